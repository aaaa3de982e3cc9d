// End-to-end: the platform boots like a machine (PCI enumeration through the root complex's ECAM,
// MPS/MRRS programmed into Device Control and taken by the link), and a device that software never
// enabled cannot DMA.
#include <catch2/catch.hpp>

#include "run_command.hpp"

using iovsim::test::read_json;
using iovsim::test::run_iovsim;
using iovsim::test::scratch_dir;
using nlohmann::json;

namespace {
json run_stats(const std::string& args, const std::string& tag) {
  return iovsim::test::run_for_stats(args, "pcie_" + tag)["stats"];
}
}  // namespace

TEST_CASE("cpu.list_devices prints the tree enumeration found: the root port and the endpoint") {
  auto r = run_iovsim("--set cpu.list_devices=true --set workload.requests=1000", "lspci");
  REQUIRE(r.status == 0);
  CHECK(r.out.find("00:01.0 8086:6f08 class 060400 bridge [01-08]") != std::string::npos);
  CHECK(r.out.find("01:00.0 19ee:4000 class 020000 mps 256 mrrs 512") != std::string::npos);
  CHECK(r.out.find("BAR0 64-bit prefetchable [0x00000000c0000000-0x00000000c000ffff] 64K") !=
        std::string::npos);
}

TEST_CASE("MPS and MRRS programmed by enumeration set the link's TLP sizes") {
  // 512 B reads, MPS 128: four CplD TLPs per read; MRRS 128: four MRd TLPs per read.
  json s = run_stats(
      "--set pcie.mps=128 --set pcie.mrrs=128 --set workload.transfer_bytes=512 "
      "--set workload.requests=1000",
      "mps128");
  // Downstream also carries the boot's configuration requests (well under 200).
  CHECK(s["link.down_tlps"].get<uint64_t>() >= 4 * 1000);
  CHECK(s["link.down_tlps"].get<uint64_t>() < 4 * 1000 + 200);
  CHECK(s["link.up_tlps"].get<uint64_t>() >= 4 * 1000);
  json t = run_stats(
      "--set pcie.mps=512 --set pcie.mrrs=512 --set workload.transfer_bytes=512 "
      "--set workload.requests=1000",
      "mps512");
  CHECK(t["link.down_tlps"].get<uint64_t>() >= 1000);
  CHECK(t["link.down_tlps"].get<uint64_t>() < 1000 + 200);
}

TEST_CASE(
    "without enumeration the endpoint's bus mastering stays off: no DMA, the error reported") {
  auto dir = scratch_dir("noenum");
  auto r = run_iovsim(
      "run --out '" + dir.string() + "' --set cpu.enumerate=false --set workload.requests=500",
      "noenum");
  REQUIRE(r.status == 0);
  json s = read_json(dir / "stats.json")["stats"];
  CHECK(s["workload.bme_blocked"].get<uint64_t>() == 500);
  CHECK(s["workload.transactions"].get<uint64_t>() == 0);
  CHECK(s["memory.reads"].get<uint64_t>() == 0);
  CHECK(r.out.find("Bus Master Enable was clear") != std::string::npos);
}

TEST_CASE(
    "boot goes through the root complex: config accesses counted, no requester-id violations") {
  json s = run_stats("--set workload.requests=1000", "boot");
  CHECK(s["rc.config_accesses"].get<uint64_t>() > 20);
  CHECK(s["rc.rid_violations"].get<uint64_t>() == 0);
  CHECK(s["rc.bme_blocked"].get<uint64_t>() == 0);
  CHECK(s["workload.transactions"].get<uint64_t>() == 1000);
}
