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

}  // namespace iovsim::cpu_stub
