#include "runtime/scratch.h"

#include <atomic>

#include "runtime/buffer.h"

namespace pyae {

namespace {
std::atomic<std::uint64_t> g_growths{0};
}  // namespace

float* thread_scratch(ScratchSlot slot, std::size_t n) {
  thread_local FloatBuffer buffers[kScratchSlots];
  FloatBuffer& b = buffers[slot];
  if (b.size() < n) {
    b.resize(n);
    ++g_growths;
  }
  return b.data();
}

std::uint64_t scratch_allocations() { return g_growths; }

}  // namespace pyae
