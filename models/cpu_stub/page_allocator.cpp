#include <iovsim/cpu_stub/page_allocator.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace iovsim::cpu_stub {

PageAllocator::PageAllocator(HostAccess& host, uint64_t base, uint64_t size)
    : host_(host), base_(base), pages_(size / kPageBytes) {
  if (base % kPageBytes != 0 || size % kPageBytes != 0)
    throw std::invalid_argument("page allocator: region base and size must be 4 KiB aligned");
  if (size != 0 && base + (size - 1) < base)
    throw std::invalid_argument("page allocator: region wraps the address space");
}

uint64_t PageAllocator::alloc_page() {
  if (used_ >= pages_)
    throw std::runtime_error("page allocator: region exhausted after " + std::to_string(used_) +
                             " pages");
  const uint64_t page = base_ + used_ * kPageBytes;
  static const std::vector<uint8_t> zeros(kPageBytes, 0);
  host_.mem_write(page, zeros.data(), zeros.size());
  ++used_;
  return page;
}

uint64_t PageAllocator::alloc_pages(uint64_t n) {
  if (n == 0) throw std::invalid_argument("page allocator: alloc_pages(0)");
  if (n > pages_ - used_)
    throw std::runtime_error("page allocator: " + std::to_string(n) +
                             " contiguous pages requested, " + std::to_string(pages_ - used_) +
                             " left");
  const uint64_t first = alloc_page();  // a bump allocator: the next n - 1 follow it
  for (uint64_t i = 1; i < n; ++i) alloc_page();
  return first;
}

}  // namespace iovsim::cpu_stub
