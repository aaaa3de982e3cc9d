#include <iovsim/cpu_stub/iova_allocator.hpp>

#include <iterator>
#include <stdexcept>

#include <iovsim/core/bitfield.hpp>
#include <iovsim/core/params.hpp>

namespace iovsim::cpu_stub {

namespace {

constexpr unsigned kPageShift = 12;

uint64_t round_up_pow2(uint64_t v) {
  return core::is_pow2(v) ? v : uint64_t{1} << (core::log2_floor(v) + 1);
}

void check_range(uint64_t base, uint64_t bytes) {
  if (bytes == 0 || base % IovaAllocator::kPageBytes != 0 || bytes % IovaAllocator::kPageBytes != 0)
    throw std::invalid_argument(
        "IOVA allocator: range base and size must be 4 KiB multiples, the size non-zero");
  if (base + bytes < base) throw std::invalid_argument("IOVA allocator: range wraps around");
}

std::string hex(uint64_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), digits[v & 0xF]);
    v >>= 4;
  } while (v != 0);
  return "0x" + s;
}

}  // namespace

// ---- first-fit -------------------------------------------------------------------------------

FirstFitIovaAllocator::FirstFitIovaAllocator(uint64_t base, uint64_t bytes) {
  check_range(base, bytes);
  free_[base >> kPageShift] = (base + bytes) >> kPageShift;
}

std::optional<uint64_t> FirstFitIovaAllocator::alloc(uint64_t pages) {
  if (pages == 0) throw std::invalid_argument("IOVA allocator: allocation of 0 pages");
  if (pages > (uint64_t{1} << 52)) return std::nullopt;  // beyond any IOVA space
  const uint64_t align = round_up_pow2(pages);
  // Top-down: the highest free interval with room for an aligned placement, placed at its top.
  for (auto it = free_.rbegin(); it != free_.rend(); ++it) {
    const uint64_t first = it->first, end = it->second;
    if (end - first < pages) continue;
    const uint64_t start = core::align_down(end - pages, align);
    if (start < first) continue;
    // Split the interval around [start, start + pages).
    const uint64_t tail_first = start + pages;
    free_.erase(std::next(it).base());
    if (first < start) free_[first] = start;
    if (tail_first < end) free_[tail_first] = end;
    allocated_[start] = pages;
    in_use_ += pages;
    return start << kPageShift;
  }
  return std::nullopt;
}

void FirstFitIovaAllocator::free(uint64_t iova, uint64_t pages) {
  const uint64_t first = iova >> kPageShift;
  auto a = allocated_.find(first);
  if (iova % kPageBytes != 0 || a == allocated_.end() || a->second != pages)
    throw std::invalid_argument("IOVA allocator: free of " + std::to_string(pages) + " pages at " +
                                hex(iova) + " that were not allocated as such");
  allocated_.erase(a);
  in_use_ -= pages;
  uint64_t start = first, end = first + pages;
  // Coalesce with the neighbouring free intervals.
  auto next = free_.lower_bound(start);
  if (next != free_.end() && next->first == end) {
    end = next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->second == start) {
      start = prev->first;
      free_.erase(prev);
    }
  }
  free_[start] = end;
}

// ---- caching ---------------------------------------------------------------------------------

CachingIovaAllocator::CachingIovaAllocator(uint64_t base, uint64_t bytes)
    : tree_(base, bytes), cache_(kCachedOrders) {}

std::optional<uint64_t> CachingIovaAllocator::alloc(uint64_t pages) {
  if (pages == 0) throw std::invalid_argument("IOVA allocator: allocation of 0 pages");
  const bool cacheable = pages <= (uint64_t{1} << (kCachedOrders - 1));
  // Linux rounds cacheable sizes up so that whatever comes back into a cache fits any request of
  // its order.
  const uint64_t size = cacheable ? round_up_pow2(pages) : pages;
  std::optional<uint64_t> iova;
  if (cacheable) {
    auto& stack = cache_[core::log2_floor(size)];
    if (!stack.empty()) {
      iova = stack.back();
      stack.pop_back();
    }
  }
  if (!iova) iova = tree_.alloc(size);
  if (!iova) {
    drain();
    iova = tree_.alloc(size);
  }
  if (!iova) return std::nullopt;
  handed_out_[*iova] = size;
  in_use_ += size;
  return iova;
}

void CachingIovaAllocator::free(uint64_t iova, uint64_t pages) {
  auto h = handed_out_.find(iova);
  const bool cacheable = pages != 0 && pages <= (uint64_t{1} << (kCachedOrders - 1));
  const uint64_t size = cacheable ? round_up_pow2(pages) : pages;
  if (h == handed_out_.end() || h->second != size)
    throw std::invalid_argument("IOVA allocator: free of " + std::to_string(pages) + " pages at " +
                                hex(iova) + " that were not allocated as such");
  handed_out_.erase(h);
  in_use_ -= size;
  if (cacheable) {
    auto& stack = cache_[core::log2_floor(size)];
    if (stack.size() < kCacheDepth) {
      stack.push_back(iova);
      return;
    }
  }
  tree_.free(iova, size);
}

void CachingIovaAllocator::drain() {
  for (unsigned order = 0; order < kCachedOrders; ++order) {
    for (uint64_t iova : cache_[order]) tree_.free(iova, uint64_t{1} << order);
    cache_[order].clear();
  }
}

// ---- registry --------------------------------------------------------------------------------

IovaAllocatorRegistry::IovaAllocatorRegistry() {
  factories_["first-fit"] = [](uint64_t base, uint64_t bytes) {
    return std::make_unique<FirstFitIovaAllocator>(base, bytes);
  };
  factories_["caching"] = [](uint64_t base, uint64_t bytes) {
    return std::make_unique<CachingIovaAllocator>(base, bytes);
  };
}

IovaAllocatorRegistry& IovaAllocatorRegistry::instance() {
  static IovaAllocatorRegistry registry;
  return registry;
}

void IovaAllocatorRegistry::add(const std::string& name, IovaAllocatorFactory f) {
  if (name.empty()) throw std::invalid_argument("IovaAllocatorRegistry::add: empty name");
  if (!f)
    throw std::invalid_argument("IovaAllocatorRegistry::add: empty factory for '" + name + "'");
  factories_[name] = std::move(f);
}

std::unique_ptr<IovaAllocator> IovaAllocatorRegistry::create(const std::string& name, uint64_t base,
                                                             uint64_t bytes) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [n, f] : factories_) known += (known.empty() ? "" : ", ") + n;
    throw core::ConfigError("unknown IOVA allocator '" + name + "' (known: " + known + ")");
  }
  auto a = it->second(base, bytes);
  if (!a) throw std::logic_error("IOVA allocator factory '" + name + "' returned null");
  return a;
}

std::vector<std::string> IovaAllocatorRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, f] : factories_) out.push_back(n);
  return out;
}

}  // namespace iovsim::cpu_stub
