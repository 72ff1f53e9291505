// Runs the Argon2id kernel under warp emulation (see warp_emulation.hpp) and prints one
// raw hash per line, in hex, in key order.
//
//   emulate range TEMPLATE START COUNT M     keys = stem + counter, counter = START + i
//   emulate keys TEMPLATE M KEY...           arbitrary 64-hex-character keys
//   emulate refs M                           the precomputed first-half reference indices
//
// TEMPLATE is the 128-byte H0 message template in hex, as miner.backends.cupy_backend
// builds it (h0_template), START is decimal, M the memory cost in KiB.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#ifndef ARGON2_WARPS_PER_BLOCK
#define ARGON2_WARPS_PER_BLOCK 4
#endif

using u32 = unsigned int;
using u64 = unsigned long long;

extern "C" void argon2id_refs(u32* refs, u32 m_cost);
extern "C" void argon2id_first_range(u64* memory, const u64* tmpl, u64 start, u32 count,
                                     u32 m_cost);
extern "C" void argon2id_first_keys(u64* memory, const u64* tmpl, const u64* keys, u32 count,
                                    u32 m_cost);
extern "C" void argon2id_fill(u64* memory, const u32* refs, u32 count, u32 m_cost);
extern "C" void argon2id_tag(const u64* memory, u64* out, u32 count, u32 m_cost);

namespace {

constexpr unsigned kThreads = 32 * ARGON2_WARPS_PER_BLOCK;

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr, "emulate: %s\n", why);
    std::fprintf(stderr,
                 "usage: emulate range TEMPLATE START COUNT M | keys TEMPLATE M KEY... | "
                 "refs M\n");
    std::exit(2);
}

std::vector<unsigned char> from_hex(const std::string& text) {
    if (text.size() % 2) usage("odd-length hex");
    std::vector<unsigned char> bytes(text.size() / 2);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        unsigned value = 0;
        if (std::sscanf(text.c_str() + 2 * i, "%2x", &value) != 1) usage("bad hex");
        bytes[i] = static_cast<unsigned char>(value);
    }
    return bytes;
}

std::vector<u64> words(const std::vector<unsigned char>& bytes) {
    std::vector<u64> out(bytes.size() / 8);
    std::memcpy(out.data(), bytes.data(), out.size() * 8);  // little-endian host
    return out;
}

u32 parse_m(const char* text) {
    const long m = std::strtol(text, nullptr, 10);
    if (m < 8) usage("M must be at least 8");
    return static_cast<u32>(m);
}

std::vector<u32> compute_refs(u32 m_cost) {
    const u32 blocks = m_cost & ~3u, segment = blocks / 4;
    const u32 warps = 2 * ((segment + 127) / 128);
    std::vector<u32> refs(blocks / 2, 0);
    u32* data = refs.data();
    emu::launch((warps + ARGON2_WARPS_PER_BLOCK - 1) / ARGON2_WARPS_PER_BLOCK, kThreads,
                [&] { argon2id_refs(data, m_cost); });
    return refs;
}

void print_hashes(const std::vector<u64>& out) {
    for (std::size_t hash = 0; hash < out.size() / 8; ++hash) {
        const auto* bytes = reinterpret_cast<const unsigned char*>(out.data() + 8 * hash);
        for (int i = 0; i < 64; ++i) std::printf("%02x", bytes[i]);
        std::printf("\n");
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) usage("missing arguments");
    const std::string mode = argv[1];
    if (mode == "refs") {
        for (u32 ref : compute_refs(parse_m(argv[2]))) std::printf("%u\n", ref);
        return 0;
    }
    if (argc < 4) usage("missing arguments");
    const std::vector<u64> tmpl = words(from_hex(argv[2]));
    if (tmpl.size() != 16) usage("TEMPLATE must be 128 bytes");
    std::vector<u64> keys;
    u64 start = 0;
    u32 count = 0, m_cost = 0;
    if (mode == "range") {
        if (argc != 6) usage("range takes TEMPLATE START COUNT M");
        start = std::strtoull(argv[3], nullptr, 10);
        count = static_cast<u32>(std::strtoul(argv[4], nullptr, 10));
        m_cost = parse_m(argv[5]);
    } else if (mode == "keys") {
        m_cost = parse_m(argv[3]);
        for (int arg = 4; arg < argc; ++arg) {
            const std::string key = argv[arg];
            if (key.size() != 64) usage("a key is 64 characters");
            std::vector<unsigned char> ascii(key.begin(), key.end());
            for (u64 word : words(ascii)) keys.push_back(word);
        }
        count = static_cast<u32>(keys.size() / 8);
    } else {
        usage("unknown mode");
    }
    if (count == 0) usage("nothing to hash");
    const std::vector<u32> refs = compute_refs(m_cost);
    const u64 blocks = m_cost & ~3u;
    std::vector<u64> memory(count * blocks * 128);
    std::vector<u64> out(count * 8ull);
    const unsigned grid = (count + ARGON2_WARPS_PER_BLOCK - 1) / ARGON2_WARPS_PER_BLOCK;
    u64* mem = memory.data();
    if (mode == "range") {
        emu::launch(grid, kThreads,
                    [&] { argon2id_first_range(mem, tmpl.data(), start, count, m_cost); });
    } else {
        emu::launch(grid, kThreads, [&] {
            argon2id_first_keys(mem, tmpl.data(), keys.data(), count, m_cost);
        });
    }
    emu::launch(grid, kThreads, [&] { argon2id_fill(mem, refs.data(), count, m_cost); });
    emu::launch(grid, kThreads, [&] { argon2id_tag(mem, out.data(), count, m_cost); });
    print_hashes(out);
    return 0;
}
