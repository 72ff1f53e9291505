// Argon2id v1.3 (t = 1, p = 1, 64-byte tag) for XenBlocks mining: one warp per hash.
//
// Entry points (extern "C", blockDim.x = ARGON2_THREADS, warp w of block b hashes key
// b * ARGON2_WARPS_PER_BLOCK + w; memory holds m' KiB per hash, m' = 4 * floor(m / 4)):
//   argon2id_refs        - the data-independent reference indices of the first half of
//                          memory (pass 0, slices 0 and 1: Argon2i addressing), computed
//                          once per difficulty and shared by every hash;
//   argon2id_first_range - H0 and blocks 0 and 1 for the keys stem + counter (16 lowercase
//                          hex digits), counter = start + hash index;
//   argon2id_first_keys  - the same for arbitrary 64-character keys read from an array;
//   argon2id_fill        - blocks 2 .. m'-1 (the memory-bound bulk of the work);
//   argon2id_tag         - the final H'(64) of the last block: raw 64-byte hashes to
//                          out[64 * i ...], in key order.
// The phases are separate kernels so that each gets its own register allocation and
// occupancy: the fill loop needs 48 registers on sm_90, while in one kernel the Blake2b
// phases (where ptxas, left alone, hoists message loads up to 96 registers) would set the
// count for all of it. The Blake2b kernels are capped at 64 registers, without spills.
//
// Layout. A 1 KiB block is 128 64-bit words; lane t of the warp holds words t + 32k,
// k = 0..3 ("storage layout"), so every load or store of a block is four instructions of
// 256 contiguous bytes each: one coalesced, contiguous 1 KiB per warp, every 32-byte
// sector used whole. (16-byte vector accesses would move the same sectors, but a lane
// would then hold adjacent pairs of words, and since the pair's two words sit in different
// lanes in both the row and the column phase, that costs two more transposition stages
// per block, 8 more shuffles.) Only two blocks
// move per new block: the reference block is read and the new block written; the previous
// block stays in registers (t = 1, so nothing is XORed into old memory contents).
//
// The BlaMka permutation P works on the block as an 8 x 8 matrix of 128-bit pairs: first
// a Blake2b round over each row (16 consecutive words), then over each column. Each lane
// runs one G at a time on the 4 words it holds, so P is 4 G per lane, with warp shuffles
// in between:
//   storage layout is the column layout (lane = column G, slots = a, b, c, d);
//   a 4 x 4 transposition across lanes (two __shfl_xor_sync stages) gives the row layout;
//   row round: G, diagonalise (3 word shuffles within groups of 4 lanes), G;
//   the same transposition gives the column layout again, where the row round's
//   diagonal skew has become a mere relabelling of lanes (no shuffle to undo it);
//   column round: G, diagonalise, G;
//   one shuffle per word undoes both the diagonal and the relabelling.
// That is 18 64-bit shuffles (36 SHFL instructions) per block.
//
// Blake2b (H0, the two H' chains that make B[0] and B[1], the final H'(64) tag) runs on
// the GPU too, with the 4 G of a Blake2b round split over 4 lanes: lanes 0-3 build B[0],
// lanes 4-7 build B[1] at the same time; the other lanes compute copies, so every shuffle
// has the full warp (no divergence). Message words go through a little shared memory
// (each lane of a state reads different words in each round).
//
// Portability. Only a small set of CUDA built-ins is used (__shfl_sync, __shfl_xor_sync,
// __syncwarp, threadIdx, blockIdx, blockDim, __shared__, __global__, __device__,
// __forceinline__, __launch_bounds__, __restrict__) and no headers, so that
// tests/cuda/warp_emulation.hpp can compile this file unchanged with g++ and check it
// bit for bit against argon2-cffi on a machine without a GPU.

#ifndef ARGON2_WARPS_PER_BLOCK
#define ARGON2_WARPS_PER_BLOCK 4
#endif
#ifndef ARGON2_MIN_BLOCKS_PER_SM  // for the fill kernel (it needs 48 registers on sm_90)
#define ARGON2_MIN_BLOCKS_PER_SM 1
#endif
#ifndef ARGON2_BLAKE2B_MIN_BLOCKS  // caps the Blake2b kernels at 64 registers (no spills)
#define ARGON2_BLAKE2B_MIN_BLOCKS 8
#endif
#define ARGON2_THREADS (32 * ARGON2_WARPS_PER_BLOCK)

typedef unsigned int u32;
typedef unsigned long long u64;

#define FULL_MASK 0xffffffffu
#define BLOCK_WORDS 128

// ---------------------------------------------------------------------------------------
// Small helpers

__device__ __forceinline__ u64 rotr64(u64 x, u32 n) { return (x >> n) | (x << (64 - n)); }

__device__ __forceinline__ u64 shfl(u64 v, int src, int width = 32) {
    return __shfl_sync(FULL_MASK, v, src, width);
}

__device__ __forceinline__ u64 shfl_xor(u64 v, int mask) {
    return __shfl_xor_sync(FULL_MASK, v, mask, 32);
}

struct Block {
    u64 s[4];  // lane t: words t, t + 32, t + 64, t + 96 (storage layout)
};

__device__ __forceinline__ void load_block(Block& x, const u64* __restrict__ src, u32 lane) {
#pragma unroll
    for (int k = 0; k < 4; ++k) x.s[k] = src[lane + 32 * k];
}

__device__ __forceinline__ void load_xor_block(Block& x, const u64* __restrict__ src, u32 lane) {
#pragma unroll
    for (int k = 0; k < 4; ++k) x.s[k] ^= src[lane + 32 * k];
}

__device__ __forceinline__ void store_block(u64* __restrict__ dst, const Block& x, u32 lane) {
#pragma unroll
    for (int k = 0; k < 4; ++k) dst[lane + 32 * k] = x.s[k];
}

// ---------------------------------------------------------------------------------------
// The BlaMka permutation P, warp-cooperative

__device__ __forceinline__ u64 blamka(u64 x, u64 y) {
    return x + y + 2 * ((u64)(u32)x * (u64)(u32)y);
}

__device__ __forceinline__ void blamka_g(u64& a, u64& b, u64& c, u64& d) {
    a = blamka(a, b);
    d = rotr64(d ^ a, 32);
    c = blamka(c, d);
    b = rotr64(b ^ c, 24);
    a = blamka(a, b);
    d = rotr64(d ^ a, 16);
    c = blamka(c, d);
    b = rotr64(b ^ c, 63);
}

// Which lane holds what in each phase. Word w = 16 * row + 2 * col + e of the block
// (row, col = 0..7 index the 8 x 8 matrix of pairs, e = 0..1 the word in the pair).
// A Blake2b round over v0..v15 runs G(v[r], v[4+r], v[8+r], v[12+r]) for r = 0..3
// ("column step"), then G(v[r], v[4+(r+1)%4], v[8+(r+2)%4], v[12+(r+3)%4]) ("diagonal").
// Row round row: v[4m + r] = word 16 row + 4m + r. Column round col: v[4m + r] =
// word 2 col + (r & 1) + 16 (r >> 1) + 32 m, which is storage lane
// c = 2 col + (r & 1) + 16 (r >> 1), slot m.
// (A shuffle takes its source lane modulo the width, so packed fields need no masking.)
struct LaneMap {
    u32 lane;
    u32 col_src;  // 3 x 5 bits: source lanes of slots 1..3 for the column diagonal step
    u32 fin_src;  // 4 x 5 bits: source lanes of slots 0..3 for the way back to storage
};

__device__ __forceinline__ u32 storage_lane(u32 col, u32 r) {
    return (col << 1) | (r & 1) | ((r >> 1) << 4);
}

// After the row round and the second transposition, physical lane L holds the column
// data of storage lane c = (L & ~3) | ((L + m) & 3), m = (L >> 2) & 3; and the inverse:
__device__ __forceinline__ u32 physical_lane(u32 c) {
    return (c & ~3u) | ((c - ((c >> 2) & 3)) & 3);
}

__device__ __forceinline__ LaneMap make_lane_map(u32 lane) {
    LaneMap map;
    map.lane = lane;
    const u32 c = (lane & ~3u) | ((lane + ((lane >> 2) & 3)) & 3);
    const u32 col = (c >> 1) & 7, r = (c & 1) | ((c >> 4) << 1);
    map.col_src = 0;
    for (u32 k = 1; k < 4; ++k)
        map.col_src |= physical_lane(storage_lane(col, (r + k) & 3)) << (5 * (k - 1));
    const u32 col_t = (lane >> 1) & 7, r_t = (lane & 1) | ((lane >> 4) << 1);
    map.fin_src = 0;
    for (u32 k = 0; k < 4; ++k)
        map.fin_src |= physical_lane(storage_lane(col_t, (r_t - k) & 3)) << (5 * k);
    return map;
}

// Swaps lane bits 3, 2 with the slot index: storage layout <-> row layout.
__device__ __forceinline__ void transpose(Block& x, u32 lane) {
    bool up = lane & 4;  // lane bit 2 <-> slot bit 0
    u64 a = up ? x.s[0] : x.s[1];
    u64 b = up ? x.s[2] : x.s[3];
    a = shfl_xor(a, 4);
    b = shfl_xor(b, 4);
    if (up) {
        x.s[0] = a;
        x.s[2] = b;
    } else {
        x.s[1] = a;
        x.s[3] = b;
    }
    up = lane & 8;  // lane bit 3 <-> slot bit 1
    a = up ? x.s[0] : x.s[2];
    b = up ? x.s[1] : x.s[3];
    a = shfl_xor(a, 8);
    b = shfl_xor(b, 8);
    if (up) {
        x.s[0] = a;
        x.s[1] = b;
    } else {
        x.s[2] = a;
        x.s[3] = b;
    }
}

// x <- x ^ P(x), in storage layout.
__device__ __forceinline__ void permute_xor(Block& x, const LaneMap& map) {
    const Block saved = x;
    const int lane = (int)map.lane;
    transpose(x, map.lane);  // row layout: lane = (row, r), slot m = v[4m + r]
    blamka_g(x.s[0], x.s[1], x.s[2], x.s[3]);
    x.s[1] = shfl(x.s[1], lane + 1, 4);
    x.s[2] = shfl(x.s[2], lane + 2, 4);
    x.s[3] = shfl(x.s[3], lane + 3, 4);
    blamka_g(x.s[0], x.s[1], x.s[2], x.s[3]);
    transpose(x, map.lane);  // column layout, lanes relabelled by the row diagonal
    blamka_g(x.s[0], x.s[1], x.s[2], x.s[3]);
    x.s[1] = shfl(x.s[1], (int)map.col_src);
    x.s[2] = shfl(x.s[2], (int)(map.col_src >> 5));
    x.s[3] = shfl(x.s[3], (int)(map.col_src >> 10));
    blamka_g(x.s[0], x.s[1], x.s[2], x.s[3]);
    x.s[0] = shfl(x.s[0], (int)map.fin_src);  // back to storage layout
    x.s[1] = shfl(x.s[1], (int)(map.fin_src >> 5));
    x.s[2] = shfl(x.s[2], (int)(map.fin_src >> 10));
    x.s[3] = shfl(x.s[3], (int)(map.fin_src >> 15));
#pragma unroll
    for (int k = 0; k < 4; ++k) x.s[k] ^= saved.s[k];
}

// ---------------------------------------------------------------------------------------
// Blake2b-512 on 4 lanes: lane i = lane & 3 holds v[i], v[4+i], v[8+i], v[12+i] of the
// working state and h[i], h[4+i] of the chaining value. Messages are read from shared
// memory (the per-lane message word index differs, so registers would need selects).

__device__ __forceinline__ u64 blake2b_iv(u32 i) {
    switch (i & 7) {
        case 0: return 0x6a09e667f3bcc908ull;
        case 1: return 0xbb67ae8584caa73bull;
        case 2: return 0x3c6ef372fe94f82bull;
        case 3: return 0xa54ff53a5f1d36f1ull;
        case 4: return 0x510e527fade682d1ull;
        case 5: return 0x9b05688c2b3e6c1full;
        case 6: return 0x1f83d9abfb41bd6bull;
        default: return 0x5be0cd19137e2179ull;
    }
}

// Nibble k of sigma_packed(r) is sigma[r][k].
__device__ __forceinline__ u64 sigma_packed(int r) {
    switch (r % 10) {
        case 0: return 0xfedcba9876543210ull;
        case 1: return 0x357b20c16df984aeull;
        case 2: return 0x491763eadf250c8bull;
        case 3: return 0x8f04a562ebcd1397ull;
        case 4: return 0xd386cb1efa427509ull;
        case 5: return 0x91ef57d438b0a6c2ull;
        case 6: return 0xb8293670a4def15cull;
        case 7: return 0xa2684f05931ce7bdull;
        case 8: return 0x5a417d2c803b9ef6ull;
        default: return 0x0dc3e9bf5167482aull;
    }
}

__device__ __forceinline__ void blake2b_g(u64& a, u64& b, u64& c, u64& d, u64 x, u64 y) {
    a = a + b + x;
    d = rotr64(d ^ a, 32);
    c = c + d;
    b = rotr64(b ^ c, 24);
    a = a + b + y;
    d = rotr64(d ^ a, 16);
    c = c + d;
    b = rotr64(b ^ c, 63);
}

// h = IV with the parameter block of an unkeyed 64-byte digest.
__device__ __forceinline__ void blake2b_init(u64& h_lo, u64& h_hi, u32 i) {
    h_lo = blake2b_iv(i) ^ (i == 0 ? 0x01010040ull : 0ull);
    h_hi = blake2b_iv(4 + i);
}

__device__ __forceinline__ void blake2b_compress(u64& h_lo, u64& h_hi, const u64* msg,
                                                 u32 counter, bool last, u32 lane) {
    const u32 i = lane & 3;
    u64 a = h_lo, b = h_hi, c = blake2b_iv(i), d = blake2b_iv(4 + i);
    if (i == 0) d ^= counter;
    if (i == 2 && last) d = ~d;
    const u32 shift = 8 * i;
#pragma unroll
    for (int r = 0; r < 12; ++r) {
        const u64 sigma = sigma_packed(r);
        const u32 column = (u32)sigma >> shift, diagonal = (u32)(sigma >> 32) >> shift;
        blake2b_g(a, b, c, d, msg[column & 15], msg[(column >> 4) & 15]);
        b = shfl(b, (int)lane + 1, 4);
        c = shfl(c, (int)lane + 2, 4);
        d = shfl(d, (int)lane + 3, 4);
        blake2b_g(a, b, c, d, msg[diagonal & 15], msg[(diagonal >> 4) & 15]);
        b = shfl(b, (int)lane + 3, 4);
        c = shfl(c, (int)lane + 2, 4);
        d = shfl(d, (int)lane + 1, 4);
    }
    h_lo ^= a ^ c;
    h_hi ^= b ^ d;
}

// ---------------------------------------------------------------------------------------
// The hash

// 8 ASCII hex digits of x, most significant first, as a little-endian word.
__device__ __forceinline__ u64 hex8(u32 x) {
    u64 word = 0;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        const u32 nibble = (x >> (28 - 4 * j)) & 15;
        word |= (u64)(nibble + (nibble < 10 ? 48 : 87)) << (8 * j);
    }
    return word;
}

// Password word j (bytes 8j .. 8j+7 of the 64-character key) that is not already in the
// H0 template: the counter's 16 hex digits (words 6, 7) or, with keys, all of it.
template <bool KEYS>
__device__ __forceinline__ u64 password_word(int j, const u64* __restrict__ key, u64 counter) {
    if (KEYS) return key[j];
    if (j == 6) return hex8((u32)(counter >> 32));
    if (j == 7) return hex8((u32)counter);
    return 0;
}

// The hash index of this warp, or false when the warp has nothing to do.
__device__ __forceinline__ bool warp_hash(u32 count, u32& hash) {
    hash = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    return hash < count;
}

// Phase 1: H0 and the first two blocks.
template <bool KEYS>
__device__ __forceinline__ void first_blocks(u64* __restrict__ memory,
                                             const u64* __restrict__ tmpl,
                                             const u64* __restrict__ keys, u64 start,
                                             u32 count, u32 m_cost) {
    __shared__ u64 shared[ARGON2_WARPS_PER_BLOCK][3][16];
    u32 hash;
    if (!warp_hash(count, hash)) return;
    const u32 lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const u32 blocks = m_cost & ~3u;  // m' = 4 * floor(m / 4) (p = 1)
    u64* __restrict__ mem = memory + (u64)hash * blocks * BLOCK_WORDS;
    u64* msg0 = shared[warp][0];
    u64* msg1 = shared[warp][1];
    u64* h0 = shared[warp][2];
    const u32 i = lane & 3;               // lane within a Blake2b state
    u64* msg = (lane & 4) ? msg1 : msg0;  // lanes 0-3 make B[0], 4-7 B[1]; copies beyond

    // H0 = Blake2b(LE32 p, T, m, t, v, y, |P|, P, |S|, S, 0, 0): 124 bytes, one block.
    // The template holds everything but the key (all of it, or its counter digits).
    {
        const int w = (int)(lane & 15);
        const u64* key = keys + 8ull * hash;
        const u64 counter = start + hash;
        u64 word = tmpl[w];
        if (w >= 4 && w <= 11) word |= password_word<KEYS>(w - 4, key, counter) >> 32;
        if (w >= 3 && w <= 10) word |= password_word<KEYS>(w - 3, key, counter) << 32;
        if (lane < 16) msg0[w] = word;
    }
    __syncwarp();
    u64 h_lo, h_hi;
    blake2b_init(h_lo, h_hi, i);
    blake2b_compress(h_lo, h_hi, msg0, 124, true, lane);
    __syncwarp();
    if (lane < 4) {
        h0[i] = h_lo;
        h0[4 + i] = h_hi;
    }
    __syncwarp();

    // B[g] = H'(1024)(H0 || LE32 g || LE32 0): V1 = Blake2b(LE32 1024 || that), then
    // V(j+1) = Blake2b(V(j)); the block is the first halves of V1..V30, then all of V31.
    {
        const u32 g = lane >> 4, k = lane & 15;
        u64 word = 0;
        if (k == 0) word = 1024ull | (h0[0] << 32);
        else if (k < 8) word = (h0[k - 1] >> 32) | (h0[k] << 32);
        else if (k == 8) word = (h0[7] >> 32) | ((u64)g << 32);
        (g ? msg1 : msg0)[k] = word;
    }
    __syncwarp();
    blake2b_init(h_lo, h_hi, i);
    blake2b_compress(h_lo, h_hi, msg, 76, true, lane);
    u64* first = mem + ((lane >> 2) & 1) * BLOCK_WORDS;
    for (u32 j = 1; j <= 30; ++j) {
        if (lane < 8) first[4 * (j - 1) + i] = h_lo;
        __syncwarp();
        if (lane < 8) {
            msg[i] = h_lo;
            msg[4 + i] = h_hi;
            msg[8 + i] = 0;
            msg[12 + i] = 0;
        }
        __syncwarp();
        blake2b_init(h_lo, h_hi, i);
        blake2b_compress(h_lo, h_hi, msg, 64, true, lane);
    }
    if (lane < 8) {
        first[120 + i] = h_lo;
        first[124 + i] = h_hi;
    }
}

extern "C" __global__ void __launch_bounds__(ARGON2_THREADS, ARGON2_BLAKE2B_MIN_BLOCKS)
    argon2id_first_range(u64* __restrict__ memory, const u64* __restrict__ tmpl, u64 start,
                         u32 count, u32 m_cost) {
    first_blocks<false>(memory, tmpl, tmpl, start, count, m_cost);
}

extern "C" __global__ void __launch_bounds__(ARGON2_THREADS, ARGON2_BLAKE2B_MIN_BLOCKS)
    argon2id_first_keys(u64* __restrict__ memory, const u64* __restrict__ tmpl,
                        const u64* __restrict__ keys, u32 count, u32 m_cost) {
    first_blocks<true>(memory, tmpl, keys, 0, count, m_cost);
}

// Phase 2: blocks 2 .. m'-1. t = 1 and p = 1: pass 0, one lane, so the reference area of
// block i is blocks 0 .. i-2 (area size i - 1) and nothing is XORed into old contents.
extern "C" __global__ void __launch_bounds__(ARGON2_THREADS, ARGON2_MIN_BLOCKS_PER_SM)
    argon2id_fill(u64* __restrict__ memory, const u32* __restrict__ refs, u32 count,
                  u32 m_cost) {
    u32 hash;
    if (!warp_hash(count, hash)) return;
    const u32 lane = threadIdx.x & 31;
    const u32 blocks = m_cost & ~3u;
    const u32 half = blocks >> 1;  // slices 0 and 1: data-independent (precomputed)
    u64* __restrict__ mem = memory + (u64)hash * blocks * BLOCK_WORDS;
    const LaneMap map = make_lane_map(lane);
    Block prev;
    load_block(prev, mem + BLOCK_WORDS, lane);
    u32 index = 2;
    for (; index < half; ++index) {
        Block x = prev;
        load_xor_block(x, mem + (u64)refs[index] * BLOCK_WORDS, lane);
        permute_xor(x, map);
        store_block(mem + (u64)index * BLOCK_WORDS, x, lane);
        prev = x;
    }
    for (; index < blocks; ++index) {
        const u64 j1 = __shfl_sync(FULL_MASK, (u32)prev.s[0], 0);  // word 0 of the previous
        const u64 area = index - 1;
        const u32 ref = (u32)(area - 1 - ((area * ((j1 * j1) >> 32)) >> 32));
        Block x = prev;
        load_xor_block(x, mem + (u64)ref * BLOCK_WORDS, lane);
        permute_xor(x, map);
        store_block(mem + (u64)index * BLOCK_WORDS, x, lane);
        prev = x;
    }
}

// Phase 3: tag = H'(64)(B[m'-1]) = Blake2b-512(LE32 64 || block): 1028 bytes, 9
// compressions. Message word k of compression j is the high half of block word
// 16j + k - 1 and the low half of word 16j + k.
extern "C" __global__ void __launch_bounds__(ARGON2_THREADS, ARGON2_BLAKE2B_MIN_BLOCKS)
    argon2id_tag(const u64* __restrict__ memory, u64* __restrict__ out, u32 count,
                 u32 m_cost) {
    __shared__ u64 shared[ARGON2_WARPS_PER_BLOCK][16];
    u32 hash;
    if (!warp_hash(count, hash)) return;
    const u32 lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const u32 blocks = m_cost & ~3u;
    const u64* __restrict__ last = memory + ((u64)hash * blocks + blocks - 1) * BLOCK_WORDS;
    u64* msg = shared[warp];
    const u32 i = lane & 3, k = lane & 15;
    u64 h_lo, h_hi;
    blake2b_init(h_lo, h_hi, i);
#pragma unroll 1
    for (u32 j = 0; j < 9; ++j) {
        const u32 w = 16 * j + k;  // block word whose low half ends message word k
        const u64 high = w == 0 ? 64ull : w <= 128 ? last[w - 1] >> 32 : 0ull;
        const u64 low = w < 128 ? last[w] << 32 : 0ull;
        __syncwarp();
        if (lane < 16) msg[k] = high | low;
        __syncwarp();
        blake2b_compress(h_lo, h_hi, msg, j < 8 ? 128 * (j + 1) : 1028, j == 8, lane);
    }
    if (lane < 4) {
        out[8ull * hash + i] = h_lo;
        out[8ull * hash + 4 + i] = h_hi;
    }
}

// refs[i] for 2 <= i < m'/2: the reference block of block i in pass 0, slices 0 and 1.
// One warp per address block: address = G(0, G(0, input)) with input = (pass 0, lane 0,
// slice, m', t = 1, type 2, counter, 0, ...), i.e. x ^ P(x) applied twice.
extern "C" __global__ void __launch_bounds__(ARGON2_THREADS)
    argon2id_refs(u32* __restrict__ refs, u32 m_cost) {
    const u32 lane = threadIdx.x & 31;
    const u32 id = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    const u32 blocks = m_cost & ~3u, segment = blocks >> 2;
    const u32 per_slice = (segment + 127) / 128;
    if (id >= 2 * per_slice) return;
    const u32 slice = id / per_slice, counter = id % per_slice;
    const LaneMap map = make_lane_map(lane);
    Block x;
    u64 input = 0;
    if (lane == 2) input = slice;
    if (lane == 3) input = blocks;
    if (lane == 4) input = 1;
    if (lane == 5) input = 2;
    if (lane == 6) input = counter + 1;
    x.s[0] = input;
    x.s[1] = x.s[2] = x.s[3] = 0;
    permute_xor(x, map);
    permute_xor(x, map);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        const u32 position = counter * 128 + lane + 32 * k;  // within the segment
        if (position < segment && (slice > 0 || position >= 2)) {
            const u64 j1 = (u32)x.s[k];
            const u64 area = slice * segment + position - 1;
            refs[slice * segment + position] =
                (u32)(area - 1 - ((area * ((j1 * j1) >> 32)) >> 32));
        }
    }
}
