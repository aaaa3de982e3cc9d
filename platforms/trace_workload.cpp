// workload.kind = trace: a trace player below root port 0 replays trace.input (an input trace or a
// trace.capture file; traces/README.md). Any trace runs without hand setup: with the IOMMU on, each
// requester id in the trace gets its own domain (ids from 1, in order of first appearance) and the
// pages it touches, rounded to trace.page_size, are mapped to host memory at IOVA +
// trace.hpa_offset; without the IOMMU the trace's addresses are host addresses.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include <iovsim/core/event_trace.hpp>
#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/traces/trace_player.hpp>
#include <iovsim/traces/trace_reader.hpp>

#include "progress.hpp"
#include "workload.hpp"

namespace iovsim::platforms {

namespace {
const core::StringParam kInput{
    "trace.input", "",
    "CSV trace to replay (workload.kind=trace): time_ns,rid,iova,size,dir[,pasid], or a "
    "trace.capture file"};
const core::IntParam kPageSize{
    "trace.page_size", 4096,
    "Page size the driver maps the pages a trace touches with (IOMMU on; trace workload)",
    std::vector<int64_t>{4096, 2097152, 1073741824}};
const core::IntParam kHpaOffset{
    "trace.hpa_offset", int64_t{64} << 30,
    "With the IOMMU on, a trace address (IOVA) + this = where its data lives in host memory",
    core::Range{0, double(int64_t{1} << 52)}};
const core::EnumParam kHostCache{
    "trace.host_cache",
    "warm",
    "Whether the lines a trace touches sit in the host's last-level cache",
    {"warm", "cold"}};

constexpr uint64_t kMsiBase = pcie::RootComplex::kMsiBase, kMsiEnd = pcie::RootComplex::kMsiEnd;

struct Range {
  uint64_t base = 0, bytes = 0;
};

// One requester's domain and the address ranges (whole pages) its requests touch.
struct Domain {
  uint16_t rid = 0, did = 0;
  std::vector<Range> ranges;
};

class TraceWorkload : public Workload {
 public:
  explicit TraceWorkload(Fabric& f) : path_(kInput.get(f.config)) {
    if (path_.empty())
      throw core::ConfigError("workload.kind = trace needs trace.input: the CSV trace to replay");
    traces::TraceReaderOptions options;
    options.min_bus = f.rc.secondary_bus(0);
    options.max_bus = f.rc.subordinate_bus(0);
    options.bus_range_owner = "root port 0, where the trace player sits";
    traces::Trace trace = traces::TraceReader(options).read_file(path_);
    capture_ = trace.format == traces::TraceFormat::kCapture;
    plan(f, trace.records);

    auto cfg = traces::TracePlayerConfig::from(f.config);
    // The player's own function: device 0, function 0 of root port 0's secondary bus.
    cfg.requester_id = core::make_rid(f.rc.secondary_bus(0), 0, 0);
    cfg.tags = pcie::tags(f.config);
    player_ = std::make_unique<traces::TracePlayer>("trace_player", cfg, std::move(trace.records),
                                                    f.stats);
    player_->dma.bind(f.link.device_side);
    f.link.device_down.bind(player_->pcie_in);
    f.link.follow_payload_sizes(player_->config_space());
  }

  traces::TracePlayer& player() { return *player_; }

  void boot(Fabric& f) override {
    if (!f.iommu) return;
    for (const Domain& d : domains_) {
      try {
        f.driver->attach_device(d.rid, d.did, f.driver_aw);
        for (const Range& r : d.ranges)
          f.driver->map(d.did, r.base, r.base + offset_, r.bytes, page_);
      } catch (const std::invalid_argument& e) {
        throw core::ConfigError("trace.input: the IOMMU driver refused domain " +
                                std::to_string(d.did) + " for " + core::format_rid(d.rid) + ": " +
                                e.what());
      } catch (const std::runtime_error& e) {
        throw core::ConfigError("trace.input: domain " + std::to_string(d.did) + " for " +
                                core::format_rid(d.rid) + ": " + e.what() +
                                " (the trace needs more table pages: driver.tables_bytes)");
      }
    }
  }
  void start_at(const sc_core::sc_time& t) override { player_->start_at(t); }
  bool finished() const override { return player_->finished(); }
  uint64_t completed() const override { return player_->completed(); }
  void on_progress(std::function<void(uint64_t, uint64_t)> f) override {
    player_->on_progress(std::move(f));
  }

  std::string describe() const override {
    const auto& rs = player_->records();
    const auto writes = std::count_if(rs.begin(), rs.end(), [](const auto& r) { return r.write; });
    std::ostringstream os;
    os << "trace " << path_ << (capture_ ? " (a capture)" : "") << ": " << rs.size()
       << " requests (" << rs.size() - writes << " reads, " << writes << " writes) from " << rids_
       << (rids_ == 1 ? " requester" : " requesters") << " over "
       << human_time_ns(double(rs.back().time_ps) / 1000.0) << ", " << player_->config().outstanding
       << " in flight";
    if (!domains_.empty()) os << ", " << page_ / 1024 << " KiB pages";
    return os.str();
  }

 private:
  // Checks the trace against the platform and works out the domains and mappings, at elaboration,
  // so that a trace the platform cannot run is an error naming its line before anything runs.
  void plan(Fabric& f, const std::vector<traces::TraceRecord>& records) {
    page_ = 4096;
    uint64_t limit = ~uint64_t{0};
    if (f.iommu) {
      page_ = static_cast<uint64_t>(kPageSize.get(f.config));
      f.check_page_size(page_, "trace.page_size");
      offset_ = static_cast<uint64_t>(kHpaOffset.get(f.config));
      if (offset_ % page_ != 0)
        throw core::ConfigError("trace.hpa_offset must be a multiple of trace.page_size");
      const unsigned agaw = 30 + 9 * f.driver_aw;
      limit = uint64_t{1} << agaw;
    }
    auto fail = [&](const traces::TraceRecord& r, const std::string& what) {
      throw core::ConfigError(path_ + ":" + std::to_string(r.line) + ": " + what);
    };
    std::map<uint16_t, std::set<uint64_t>> pages;  // per requester: page numbers touched
    std::vector<uint16_t> order;                   // requesters by first appearance
    for (const traces::TraceRecord& r : records) {
      const uint64_t last = r.iova + r.size - 1;
      if (r.write && r.iova < kMsiEnd && last >= kMsiBase)
        fail(r,
             "a write to the interrupt window 0xfee00000-0xfeefffff: the root complex takes it "
             "for an MSI, not DMA");
      if (last >= limit)
        fail(r, "iova beyond the " + std::to_string(30 + 9 * f.driver_aw) +
                    "-bit address width the driver gives each domain (driver.aw = " +
                    std::to_string(f.driver_aw) + ")");
      auto [it, fresh] = pages.try_emplace(r.rid);
      if (fresh) order.push_back(r.rid);
      for (uint64_t p = r.iova / page_; p <= last / page_; ++p) it->second.insert(p);
    }
    rids_ = order.size();

    // Every touched page as ranges of consecutive pages: per requester for the mappings, and all
    // together (host addresses) for the memory checks and the warm lines.
    std::set<uint64_t> all;
    for (uint16_t rid : order) {
      Domain d;
      d.rid = rid;
      d.did = static_cast<uint16_t>(domains_.size() + 1);
      for (uint64_t p : pages[rid]) {
        all.insert(p);
        if (!d.ranges.empty() && d.ranges.back().base + d.ranges.back().bytes == p * page_)
          d.ranges.back().bytes += page_;
        else
          d.ranges.push_back({p * page_, page_});
      }
      if (f.iommu) domains_.push_back(std::move(d));
    }
    if (f.iommu) {
      const unsigned available = f.iommu->config().caps.domains() - 1;  // domain 0 is not used
      if (domains_.size() > available)
        throw core::ConfigError(path_ + ": " + std::to_string(domains_.size()) +
                                " requester ids need a domain each; the IOMMU has " +
                                std::to_string(available) + " (iommu.cap.nd)");
    }
    std::vector<Range> host;  // host memory the trace's data occupies
    for (uint64_t p : all) {
      const uint64_t base = p * page_ + offset_;
      if (!host.empty() && host.back().base + host.back().bytes == base)
        host.back().bytes += page_;
      else
        host.push_back({base, page_});
    }
    for (const Range& h : host)
      f.check_host_region(h.base, h.bytes,
                          f.iommu ? "the host pages of trace.input (IOVA + trace.hpa_offset)"
                                  : "trace.input's addresses (host addresses without the IOMMU)");
    if (kHostCache.get(f.config) == "warm") warm(f, host);
  }

  // Marks the trace's data warm in the last-level cache, as few ranges as possible: the gaps
  // between them hold no DMA data, so they join up unless they contain the IOMMU's tables.
  void warm(Fabric& f, const std::vector<Range>& host) {
    const uint64_t t0 = f.tables_base, t1 = f.tables_base + f.tables_bytes;
    Range cur = host.front();
    for (std::size_t i = 1; i < host.size(); ++i) {
      const uint64_t gap0 = cur.base + cur.bytes, gap1 = host[i].base;
      if (!(f.iommu && gap0 < t1 && t0 < gap1)) {
        cur.bytes = host[i].base + host[i].bytes - cur.base;
        continue;
      }
      f.memory.add_warm_range(cur.base, cur.bytes);
      cur = host[i];
    }
    f.memory.add_warm_range(cur.base, cur.bytes);
  }

  std::string path_;
  bool capture_ = false;
  uint64_t page_ = 4096, offset_ = 0;
  std::size_t rids_ = 0;
  std::vector<Domain> domains_;
  std::unique_ptr<traces::TracePlayer> player_;
};
}  // namespace

void check_trace_files(const core::Config& config) {
  if (workload_kind(config) != "trace") return;
  const std::string& input = kInput.get(config);
  std::error_code ec;
  if (input.empty() || !std::filesystem::exists(input, ec)) return;  // the reader reports it
  const std::pair<const char*, std::string> outputs[] = {
      {"trace.capture", iommu::TranslationCapture::path_from(config)},
      {"trace.timeline", core::EventTrace::path_from(config)}};
  for (const auto& [name, path] : outputs)
    if (!path.empty() && std::filesystem::equivalent(input, path, ec))
      throw core::ConfigError(std::string(name) +
                              " names the trace being replayed (trace.input = " + input +
                              "): writing it would destroy the trace");
}

std::unique_ptr<Workload> make_trace_workload(Fabric& fabric) {
  return std::make_unique<TraceWorkload>(fabric);
}

traces::TracePlayer* trace_player_of(Workload& w) {
  auto* t = dynamic_cast<TraceWorkload*>(&w);
  return t ? &t->player() : nullptr;
}

}  // namespace iovsim::platforms
