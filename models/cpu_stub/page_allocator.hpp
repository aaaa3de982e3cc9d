// 4 KiB pages for IOMMU tables (root, context, paging structures, invalidation queue), handed out
// from a host-memory region the platform reserves for the driver. A bump allocator: the driver
// never frees table pages (Linux keeps intermediate tables too), and consecutive allocations are
// physically contiguous, which the multi-page invalidation queue relies on.
#pragma once

#include <cstdint>

#include <iovsim/cpu_stub/host_access.hpp>

namespace iovsim::cpu_stub {

class PageAllocator {
 public:
  static constexpr uint64_t kPageBytes = 4096;

  // [base, base + size) in host memory; both 4 KiB aligned (std::invalid_argument otherwise).
  PageAllocator(HostAccess& host, uint64_t base, uint64_t size);

  // A zeroed page (zeroed through host memory: the region may hold stale data). Throws
  // std::runtime_error when the region is exhausted.
  uint64_t alloc_page();
  // n physically contiguous zeroed pages (the first one's address). All or nothing: throws
  // std::runtime_error when fewer than n pages are left, std::invalid_argument for n = 0.
  uint64_t alloc_pages(uint64_t n);
  uint64_t pages_used() const { return used_; }

 private:
  HostAccess& host_;
  uint64_t base_;
  uint64_t pages_;
  uint64_t used_ = 0;
};

}  // namespace iovsim::cpu_stub
