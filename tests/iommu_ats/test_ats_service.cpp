// The remapping unit's device-TLB invalidation bookkeeping (iommu/ats_service.hpp), plain C++: the
// Invalidate Request it sends per descriptor, ITags per function, completions that come back
// within the send or later, completion counts, and what it does with the unexpected.
#include <vector>

#include <catch2/catch.hpp>

#include <iovsim/core/stats.hpp>
#include <iovsim/iommu/ats_service.hpp>

using namespace iovsim;
using iommu::AtsService;
using iommu::DeviceTlbOutcome;
using Kind = iommu::DeviceTlbOutcome::Kind;

namespace {

struct Sent {
  uint16_t sid;
  uint8_t itag;
  uint64_t body, t;
};

struct Rig {
  core::StatGroup root{"iommu"};
  std::vector<Sent> sent;
  std::vector<uint64_t> completed;  // asynchronous completions reported
  bool accept = true;
  // Set: the device answers inside the send, at send time + this.
  long answer_within_ps = -1;
  AtsService ats{[this](uint16_t sid, uint8_t itag, uint64_t body, uint64_t t) {
                   sent.push_back({sid, itag, body, t});
                   if (accept && answer_within_ps >= 0)
                     ats.on_completion(sid, 1u << itag, 1, t + uint64_t(answer_within_ps));
                   return accept;
                 },
                 [this](uint64_t t) { completed.push_back(t); }, &root};
  uint64_t stat(const std::string& n) {
    core::StatMap m;
    root.collect(m);
    const auto v = m.at("iommu.ats." + n);
    return std::holds_alternative<uint64_t>(v) ? std::get<uint64_t>(v)
                                               : uint64_t(std::get<double>(v));
  }
};

}  // namespace

TEST_CASE("the descriptor's address and S go out as the request body, one ITag each",
          "[ats_service]") {
  Rig r;
  const DeviceTlbOutcome a = r.ats.invalidate(0x0100, 0x17000, true, 1000);
  CHECK(a.kind == Kind::kPending);
  const DeviceTlbOutcome b = r.ats.invalidate(0x0100, 0x20000, false, 2000);
  CHECK(b.kind == Kind::kPending);
  REQUIRE(r.sent.size() == 2);
  CHECK(r.sent[0].sid == 0x0100);
  CHECK(r.sent[0].body == (0x17000 | 1u << 11));
  CHECK(r.sent[0].t == 1000);
  CHECK(r.sent[1].body == 0x20000);
  CHECK(r.sent[0].itag != r.sent[1].itag);
  CHECK(r.ats.pending() == 2);
  CHECK(r.stat("invalidations_pending") == 2);
  // One completion message for both ITags.
  r.ats.on_completion(0x0100, (1u << r.sent[0].itag) | (1u << r.sent[1].itag), 1, 9000);
  CHECK(r.completed == std::vector<uint64_t>{9000, 9000});
  CHECK(r.ats.pending() == 0);
  CHECK(r.stat("invalidation_completions") == 2);
  CHECK(r.stat("invalidations_sent") == 2);
}

TEST_CASE("a completion within the send completes the invalidation then", "[ats_service]") {
  Rig r;
  r.answer_within_ps = 500;
  const DeviceTlbOutcome o = r.ats.invalidate(0x0100, 0x1000, false, 1000);
  CHECK(o.kind == Kind::kCompleted);
  CHECK(o.done_ps == 1500);
  CHECK(r.completed.empty());  // reported by the return value, not the callback
  CHECK(r.ats.pending() == 0);
  CHECK(r.stat("invalidation_completions") == 1);
  // Its ITag is free again: 40 more in a row never run out.
  for (int i = 0; i < 40; ++i)
    CHECK(r.ats.invalidate(0x0100, 0, false, 2000).kind == Kind::kCompleted);
}

TEST_CASE("no function accepts the request: complete at once, counted as unclaimed",
          "[ats_service]") {
  Rig r;
  r.accept = false;
  const DeviceTlbOutcome o = r.ats.invalidate(0x4000, 0, false, 7000);
  CHECK(o.kind == Kind::kCompleted);
  CHECK(o.done_ps == 7000);
  CHECK(r.stat("invalidations_unclaimed") == 1);
  CHECK(r.ats.pending() == 0);
}

TEST_CASE("32 outstanding ITags per function: the 33rd waits for one", "[ats_service]") {
  Rig r;
  for (int i = 0; i < 32; ++i)
    REQUIRE(r.ats.invalidate(0x0100, 0, false, 0).kind == Kind::kPending);
  CHECK(r.ats.invalidate(0x0100, 0, false, 0).kind == Kind::kNoItag);
  CHECK(r.stat("itag_stalls") == 1);
  // Another function has its own ITags.
  CHECK(r.ats.invalidate(0x0200, 0, false, 0).kind == Kind::kPending);
  r.ats.on_completion(0x0100, 1u << 7, 1, 100);
  CHECK(r.ats.invalidate(0x0100, 0, false, 200).kind == Kind::kPending);
  CHECK(r.sent.back().itag == 7);
}

TEST_CASE("completion count: done after CC completions; unknown ITags are spurious",
          "[ats_service]") {
  Rig r;
  REQUIRE(r.ats.invalidate(0x0100, 0, false, 0).kind == Kind::kPending);
  const uint8_t tag = r.sent[0].itag;
  r.ats.on_completion(0x0100, 1u << tag, 2, 100);  // CC = 2: one of two
  CHECK(r.completed.empty());
  r.ats.on_completion(0x0100, 1u << tag, 2, 300);
  CHECK(r.completed == std::vector<uint64_t>{300});
  r.ats.on_completion(0x0100, 1u << tag, 1, 400);  // no longer outstanding
  r.ats.on_completion(0x0300, 1u, 1, 400);         // a function never asked
  CHECK(r.stat("spurious_completions") == 2);
  CHECK(r.stat("invalidation_completions") == 1);
}
