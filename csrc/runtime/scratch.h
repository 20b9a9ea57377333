// Per-thread scratch memory for inference and the per-call GEMM packs.
//
// Each calling thread owns a few buffers ("slots") that grow to the largest
// size it has asked for and are then reused: repeated calls at a given batch
// size allocate nothing, and threads calling the same model at once never
// share memory. A caller must not use one slot twice at the same time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pyae {

enum ScratchSlot : int {
  kScratchA = 0,
  kScratchB = 1,
  kScratchOut = 2,
  kScratchHidden = 3,
  kScratchPackA = 4,  // GEMM operand packs (bf16_gemm.cpp, packed_sgemm.cpp)
  kScratchPackB = 5,
  kScratchSlots = 6
};

// At least n floats for `slot` of the calling thread (contents undefined).
float* thread_scratch(ScratchSlot slot, std::size_t n);

// How many times any thread's scratch has grown (for tests).
std::uint64_t scratch_allocations();

}  // namespace pyae
