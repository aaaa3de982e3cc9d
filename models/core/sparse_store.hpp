// Page-granular sparse backing store: a platform can have a huge physical address space while only
// the pages actually touched take host memory. Untouched bytes read as zero.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>

namespace iovsim::core {

class SparseStore {
 public:
  // size_bytes: the address space [0, size_bytes); page_bytes: allocation granule (a power of two).
  explicit SparseStore(uint64_t size_bytes, uint64_t page_bytes = 4096);

  uint64_t size() const { return size_; }
  uint64_t page_bytes() const { return page_bytes_; }
  // Pages that hold data (were written or handed out writable).
  std::size_t pages_allocated() const { return pages_.size(); }

  // True when [addr, addr+len) lies inside the address space.
  bool contains(uint64_t addr, uint64_t len) const { return len <= size_ && addr <= size_ - len; }

  // Copy out / in; ranges may span pages. Throw std::out_of_range outside the address space.
  void read(uint64_t addr, void* dst, std::size_t len) const;
  void write(uint64_t addr, const void* src, std::size_t len);

  uint64_t read_u64(uint64_t addr) const;
  uint32_t read_u32(uint64_t addr) const;
  void write_u64(uint64_t addr, uint64_t v);
  void write_u32(uint64_t addr, uint32_t v);

  // The page holding addr, allocated (zeroed) on demand; stable for the store's lifetime. Used for
  // DMI.
  uint8_t* page(uint64_t addr);
  uint64_t page_base(uint64_t addr) const { return addr & ~(page_bytes_ - 1); }

 private:
  const uint8_t* find_page(uint64_t page_number) const;

  uint64_t size_;
  uint64_t page_bytes_;
  unsigned page_shift_;
  std::unordered_map<uint64_t, std::unique_ptr<uint8_t[]>> pages_;
  // Direct-mapped lookaside by page number, in front of pages_: DMA streams and page walks touch a
  // working set of pages over and over. Pages are never freed, so an entry never goes stale.
  static constexpr std::size_t kRecentPages = 256;
  struct Recent {
    uint64_t number = ~0ull;
    uint8_t* page = nullptr;
  };
  mutable std::array<Recent, kRecentPages> recent_{};
};

}  // namespace iovsim::core
