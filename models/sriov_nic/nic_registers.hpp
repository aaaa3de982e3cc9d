// Register map of each function's BAR0 (the PF's and every VF's: 16 KiB, 64-bit, the same
// layout), as the drivers in the CPU stub program it. 32-bit registers.
#pragma once

#include <cstdint>

namespace iovsim::sriov_nic {

constexpr uint64_t kBarBytes = 16 * 1024;

// Per queue (RX at kRxQueue, TX at kTxQueue): ring base (IOVA, lo/hi), entries, head (read-only:
// the next descriptor the device will use), tail (the doorbell: one past the last descriptor
// software made available).
constexpr uint32_t kRxQueue = 0x000, kTxQueue = 0x020;
constexpr uint32_t kQBaseLo = 0x0, kQBaseHi = 0x4, kQEntries = 0x8, kQHead = 0xC, kQTail = 0x10;

// CTRL: bit 0 RX enable, bit 1 TX enable (write them after the rings are programmed).
constexpr uint32_t kRegCtrl = 0x040;
constexpr uint32_t kCtrlRxEnable = 1u << 0, kCtrlTxEnable = 1u << 1;
// STATUS (read-only): bit 0 RX stopped by a DMA error, bit 1 TX stopped by a DMA error.
constexpr uint32_t kRegStatus = 0x044;
constexpr uint32_t kStatusRxError = 1u << 0, kStatusTxError = 1u << 1;
// ERR_ADDR (read-only, lo/hi): the address of the first DMA that failed.
constexpr uint32_t kRegErrAddrLo = 0x048, kRegErrAddrHi = 0x04C;
// Interrupt moderation: minimum interval between two interrupts of a queue (ns), and the number
// of completed packets that raises one at once.
constexpr uint32_t kRegItrNs = 0x050, kRegItrPackets = 0x054;
// Counters (read-only): packets received, dropped for want of an RX descriptor, transmitted.
constexpr uint32_t kRegRxPackets = 0x060, kRegRxDrops = 0x064, kRegTxPackets = 0x068;

// MSI-X: vector 0 = RX, vector 1 = TX.
constexpr uint32_t kMsixTable = 0x2000, kMsixPba = 0x3000;
constexpr unsigned kMsixVectors = 2, kVectorRx = 0, kVectorTx = 1;

}  // namespace iovsim::sriov_nic
