// A CPU stand-in for the few CUDA built-ins the Argon2id kernel uses, so g++ compiles
// miner/backends/kernels/argon2id.cu unchanged and the kernel is checked bit for bit on a
// machine without a GPU:
//
//   g++ -std=c++20 -O2 -include tests/cuda/warp_emulation.hpp -x c++
//       miner/backends/kernels/argon2id.cu tests/cuda/emulate_main.cpp -o emulate
//
// One warp runs at a time (blocks, then the warps of a block, in order). Its 32 lanes are
// cooperative coroutines (ucontext: one context and stack per lane, all on one OS thread).
// A warp collective (__shfl_sync, __shfl_xor_sync, __syncwarp) is: the lane deposits its
// value and switches to the next lane; when it runs again, every lane has deposited, so it
// reads its source lane's value. Lanes are resumed in a fixed ring order, which makes that
// true as long as the warp is converged; divergence (lanes reaching different numbers of
// collectives) is detected and aborts. Deposits are double-buffered by collective parity.
// Only full-warp masks are supported (the kernel never uses others).
//
// __shared__ becomes a function-local static: one instance for all lanes of all warps,
// which is right because warps run one after another.
#pragma once

#include <ucontext.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __shared__ static

struct emu_dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace emu {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr std::size_t kStackBytes = 256 * 1024;

struct Lane {
    ucontext_t context{};
    emu_dim3 thread_idx{};
    std::vector<char> stack;
    std::uint64_t collectives = 0;  // collectives this lane has entered
    bool done = false;
};

struct Warp {
    Lane lanes[kWarpSize];
    ucontext_t scheduler{};
    int current = 0;
    std::uint64_t deposits = 0;  // values deposited by all lanes so far
    std::uint64_t slots[2][kWarpSize] = {};
    const std::function<void()>* body = nullptr;
};

inline Warp* g_warp = nullptr;
inline emu_dim3 g_block_idx{}, g_block_dim{}, g_grid_dim{};

[[noreturn]] inline void fail(const char* what) {
    std::fprintf(stderr, "warp emulation: %s\n", what);
    std::abort();
}

// Switch to the next lane of the ring that has not finished.
inline void yield_lane() {
    Warp& warp = *g_warp;
    const int me = warp.current;
    int next = me;
    for (int step = 1; step <= kWarpSize; ++step) {
        const int candidate = (me + step) % kWarpSize;
        if (!warp.lanes[candidate].done) {
            next = candidate;
            break;
        }
    }
    if (next == me) fail("a lane waits at a collective that no other lane reaches");
    warp.current = next;
    if (swapcontext(&warp.lanes[me].context, &warp.lanes[next].context) != 0)
        fail("swapcontext");
    warp.current = me;
}

// Deposit this lane's bits, wait for the whole warp, return the bits of lane `source`.
inline std::uint64_t collective(std::uint64_t bits, int source, unsigned mask) {
    if (mask != kFullMask) fail("only full-warp masks are emulated");
    Warp& warp = *g_warp;
    Lane& lane = warp.lanes[warp.current];
    const int parity = static_cast<int>(lane.collectives & 1);
    warp.slots[parity][warp.current] = bits;
    ++warp.deposits;
    ++lane.collectives;
    yield_lane();
    if (warp.deposits < kWarpSize * lane.collectives) fail("divergent warp at a collective");
    return warp.slots[parity][source];
}

template <class T>
inline std::uint64_t to_bits(T value) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffle of a big type");
    std::uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    return bits;
}

template <class T>
inline T from_bits(std::uint64_t bits) {
    T value;
    std::memcpy(&value, &bits, sizeof(T));
    return value;
}

inline void lane_entry() {
    Warp& warp = *g_warp;
    (*warp.body)();
    warp.lanes[warp.current].done = true;
    bool all_done = true;
    for (const Lane& lane : warp.lanes) all_done = all_done && lane.done;
    if (all_done) {
        setcontext(&warp.scheduler);
        fail("setcontext");
    }
    yield_lane();  // never comes back: a finished lane is never resumed
    fail("a finished lane was resumed");
}

inline void prepare_lane(Lane& lane, unsigned thread) {
    if (lane.stack.empty()) lane.stack.resize(kStackBytes);
    lane.thread_idx = emu_dim3{thread, 0, 0};
    lane.collectives = 0;
    lane.done = false;
    if (getcontext(&lane.context) != 0) fail("getcontext");
    lane.context.uc_stack.ss_sp = lane.stack.data();
    lane.context.uc_stack.ss_size = lane.stack.size();
    lane.context.uc_link = nullptr;
    makecontext(&lane.context, lane_entry, 0);
}

// Runs `body` as warp `warp_index` of the current block.
inline void run_warp(Warp& warp, unsigned warp_index, const std::function<void()>& body) {
    g_warp = &warp;
    warp.body = &body;
    warp.deposits = 0;
    for (unsigned index = 0; index < kWarpSize; ++index)
        prepare_lane(warp.lanes[index], warp_index * kWarpSize + index);
    warp.current = 0;
    if (swapcontext(&warp.scheduler, &warp.lanes[0].context) != 0) fail("swapcontext");
    for (const Lane& lane : warp.lanes)
        if (lane.collectives != warp.lanes[0].collectives) fail("lanes diverged");
    g_warp = nullptr;
}

// kernel<<<grid, block>>>(...) as launch(grid, block, [&] { kernel(...); }).
inline void launch(unsigned grid, unsigned block, const std::function<void()>& body) {
    if (block == 0 || block % kWarpSize != 0) fail("block size must be a multiple of 32");
    static Warp warp;  // stacks are reused from launch to launch
    g_grid_dim = emu_dim3{grid, 1, 1};
    g_block_dim = emu_dim3{block, 1, 1};
    for (unsigned b = 0; b < grid; ++b) {
        g_block_idx = emu_dim3{b, 0, 0};
        for (unsigned w = 0; w < block / kWarpSize; ++w) run_warp(warp, w, body);
    }
}

}  // namespace emu

#define threadIdx (emu::g_warp->lanes[emu::g_warp->current].thread_idx)
#define blockIdx (emu::g_block_idx)
#define blockDim (emu::g_block_dim)
#define gridDim (emu::g_grid_dim)

inline void __syncwarp(unsigned mask = emu::kFullMask) { emu::collective(0, 0, mask); }

template <class T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = emu::kWarpSize) {
    const int me = emu::g_warp->current;
    const int source = (me & ~(width - 1)) | (src_lane & (width - 1));
    return emu::from_bits<T>(emu::collective(emu::to_bits(var), source, mask));
}

template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = emu::kWarpSize) {
    const int me = emu::g_warp->current;
    int source = me ^ lane_mask;
    if ((source & ~(width - 1)) != (me & ~(width - 1))) source = me;
    return emu::from_bits<T>(emu::collective(emu::to_bits(var), source, mask));
}
