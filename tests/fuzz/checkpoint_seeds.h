// Seed corpora for the checkpoint readers' fuzz targets (safetensors_fuzzer, gguf_fuzzer), made
// from ../shared/models/formats at run time by rwkv-fuzz-seeds: miniatures of every fixture
// (its metadata and a few small tensors, rewritten as a valid file), the real headers without
// their data, and small synthetic files with every tensor type.
#ifndef RWKV_TESTS_FUZZ_CHECKPOINT_SEEDS_H_
#define RWKV_TESTS_FUZZ_CHECKPOINT_SEEDS_H_

#include <filesystem>
#include <functional>
#include <string>

namespace rwkv::fuzz {

// Receives one seed: a file name and its bytes.
using SeedSink = std::function<void(const std::string& name, const std::string& bytes)>;

void SafetensorsSeeds(const std::filesystem::path& shared, const SeedSink& add);
void GgufSeeds(const std::filesystem::path& shared, const SeedSink& add);

}  // namespace rwkv::fuzz

#endif  // RWKV_TESTS_FUZZ_CHECKPOINT_SEEDS_H_
