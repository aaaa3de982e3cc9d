// IOVA allocators for the DMA-mapping policies: 4 KiB pages of a configured I/O virtual address
// range, handed out the way Linux's alloc_iova(size_aligned = true) does — each allocation aligned
// to its size rounded up to a power of two, placed as high in the range as it fits (top-down).
// Chosen by name from a registry so a study can add its own (architecture.md §4).
//
// Built-ins:
//   "first-fit"  the free space as an ordered map of intervals; alloc takes the highest aligned
//                placement (the top-down first fit of Linux's rbtree allocator), free coalesces.
//   "caching"    Linux's IOVA rcache in front of first-fit: sizes up to 32 pages are rounded up to
//                a power of two, and freed ranges of those orders are kept per order and reused
//                last-in first-out, up to 34 magazines of 128 entries per order (a CPU's loaded and
//                previous magazines plus the 32-magazine depot). When the range is exhausted the
//                cache is given back and the allocation retried, as Linux does.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace iovsim::cpu_stub {

class IovaAllocator {
 public:
  static constexpr uint64_t kPageBytes = 4096;

  virtual ~IovaAllocator() = default;
  // The IOVA of `pages` contiguous pages, or nullopt when no aligned gap is left.
  // std::invalid_argument for 0 pages.
  virtual std::optional<uint64_t> alloc(uint64_t pages) = 0;
  // Gives back an allocation: the IOVA alloc returned and the same page count.
  // std::invalid_argument for anything else (unknown IOVA, another size, a double free).
  virtual void free(uint64_t iova, uint64_t pages) = 0;
  // Pages held by callers (as allocated: a caching allocator's rounding included).
  virtual uint64_t pages_in_use() const = 0;
};

// [base, base + bytes): both 4 KiB aligned, bytes > 0, no wrap-around (std::invalid_argument).
using IovaAllocatorFactory =
    std::function<std::unique_ptr<IovaAllocator>(uint64_t base, uint64_t bytes)>;

// The "first-fit" allocator; public so that other allocators (the caching one, a study's) can be
// built on it.
class FirstFitIovaAllocator : public IovaAllocator {
 public:
  FirstFitIovaAllocator(uint64_t base, uint64_t bytes);
  std::optional<uint64_t> alloc(uint64_t pages) override;
  void free(uint64_t iova, uint64_t pages) override;
  uint64_t pages_in_use() const override { return in_use_; }
  std::size_t free_intervals() const { return free_.size(); }

 private:
  std::map<uint64_t, uint64_t> free_;       // first page → one past the last page (page numbers)
  std::map<uint64_t, uint64_t> allocated_;  // first page → pages
  uint64_t in_use_ = 0;
};

class CachingIovaAllocator : public IovaAllocator {
 public:
  static constexpr unsigned kCachedOrders = 6;  // sizes of 1 .. 32 pages (Linux's range cache)
  static constexpr std::size_t kCacheDepth = 34 * 128;

  CachingIovaAllocator(uint64_t base, uint64_t bytes);
  std::optional<uint64_t> alloc(uint64_t pages) override;
  void free(uint64_t iova, uint64_t pages) override;
  uint64_t pages_in_use() const override { return in_use_; }
  std::size_t cached(unsigned order) const { return cache_.at(order).size(); }

 private:
  void drain();  // gives every cached range back to the tree

  FirstFitIovaAllocator tree_;
  std::vector<std::vector<uint64_t>> cache_;  // per order, a LIFO stack of IOVAs
  std::map<uint64_t, uint64_t> handed_out_;   // IOVA → pages as allocated (rounded)
  uint64_t in_use_ = 0;
};

class IovaAllocatorRegistry {
 public:
  // The process-wide registry, built-ins registered on first use.
  static IovaAllocatorRegistry& instance();

  // Registers (or replaces) an allocator; an empty name or factory is std::invalid_argument.
  void add(const std::string& name, IovaAllocatorFactory f);
  // core::ConfigError naming the known allocators for an unknown name.
  std::unique_ptr<IovaAllocator> create(const std::string& name, uint64_t base,
                                        uint64_t bytes) const;
  std::vector<std::string> names() const;  // sorted

 private:
  IovaAllocatorRegistry();
  std::map<std::string, IovaAllocatorFactory> factories_;
};

}  // namespace iovsim::cpu_stub
