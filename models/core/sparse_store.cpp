#include "sparse_store.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "bitfield.hpp"

namespace iovsim::core {

SparseStore::SparseStore(uint64_t size_bytes, uint64_t page_bytes)
    : size_(size_bytes), page_bytes_(page_bytes), page_shift_(log2_floor(page_bytes)) {
  if (!is_pow2(page_bytes))
    throw std::invalid_argument("SparseStore page size must be a power of two");
}

const uint8_t* SparseStore::find_page(uint64_t number) const {
  Recent& r = recent_[number % kRecentPages];
  if (r.number == number) return r.page;
  auto it = pages_.find(number);
  if (it == pages_.end()) return nullptr;
  r = Recent{number, it->second.get()};
  return r.page;
}

uint8_t* SparseStore::page(uint64_t addr) {
  if (!contains(addr, 1)) throw std::out_of_range("SparseStore: address beyond the address space");
  uint64_t number = addr >> page_shift_;
  if (const uint8_t* p = find_page(number)) return const_cast<uint8_t*>(p);
  auto& slot = pages_[number];
  slot.reset(new uint8_t[page_bytes_]());
  recent_[number % kRecentPages] = Recent{number, slot.get()};
  return slot.get();
}

void SparseStore::read(uint64_t addr, void* dst, std::size_t len) const {
  if (!contains(addr, len)) throw std::out_of_range("SparseStore: read beyond the address space");
  auto* out = static_cast<uint8_t*>(dst);
  while (len > 0) {
    uint64_t offset = addr & (page_bytes_ - 1);
    std::size_t chunk = static_cast<std::size_t>(std::min<uint64_t>(len, page_bytes_ - offset));
    if (const uint8_t* p = find_page(addr >> page_shift_))
      std::memcpy(out, p + offset, chunk);
    else
      std::memset(out, 0, chunk);
    out += chunk;
    addr += chunk;
    len -= chunk;
  }
}

void SparseStore::write(uint64_t addr, const void* src, std::size_t len) {
  if (!contains(addr, len)) throw std::out_of_range("SparseStore: write beyond the address space");
  auto* in = static_cast<const uint8_t*>(src);
  while (len > 0) {
    uint64_t offset = addr & (page_bytes_ - 1);
    std::size_t chunk = static_cast<std::size_t>(std::min<uint64_t>(len, page_bytes_ - offset));
    std::memcpy(page(addr) + offset, in, chunk);
    in += chunk;
    addr += chunk;
    len -= chunk;
  }
}

// Host memory is little-endian like the x86 hosts VT-d runs on; the store is byte-addressed.
namespace {
template <typename T>
T load(const SparseStore& s, uint64_t addr) {
  uint8_t b[sizeof(T)];
  s.read(addr, b, sizeof(T));
  return load_le<T>(b);
}
template <typename T>
void store(SparseStore& s, uint64_t addr, T v) {
  uint8_t b[sizeof(T)];
  store_le(b, v);
  s.write(addr, b, sizeof(T));
}
}  // namespace

uint64_t SparseStore::read_u64(uint64_t addr) const {
  return load<uint64_t>(*this, addr);
}
uint32_t SparseStore::read_u32(uint64_t addr) const {
  return load<uint32_t>(*this, addr);
}
void SparseStore::write_u64(uint64_t addr, uint64_t v) {
  store(*this, addr, v);
}
void SparseStore::write_u32(uint64_t addr, uint32_t v) {
  store(*this, addr, v);
}

}  // namespace iovsim::core
