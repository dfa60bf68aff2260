// The checkpoint readers' seeds are what they claim: the miniatures and synthetic files open and
// pass the fuzz targets' checks, and the header-only seeds are refused as truncated.
#include "tests/fuzz/checkpoint_seeds.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "engine/model/formats/gguf_file.h"
#include "engine/model/formats/safetensors_file.h"
#include "tests/fuzz/checkpoint_fuzz_check.h"
#include "tests/util/shared_data.h"

namespace rwkv::fuzz {
namespace {

std::map<std::string, std::string> Collect(void (*seeds)(const std::filesystem::path&,
                                                         const SeedSink&)) {
  std::map<std::string, std::string> out;
  seeds(rwkv::testing::SharedDir(), [&](const std::string& name, const std::string& bytes) {
    EXPECT_TRUE(out.emplace(name, bytes).second) << name;
  });
  return out;
}

template <typename Reader>
void CheckSeeds(const std::map<std::string, std::string>& seeds, Reader read) {
  for (const auto& [name, bytes] : seeds) {
    SCOPED_TRACE(name);
    EXPECT_LT(bytes.size(), 64u * 1024);
    auto tensors = read(engine::MappedFile::FromBytes(name, bytes));
    if (name.ends_with("-header")) {
      EXPECT_EQ(tensors.status().code(), absl::StatusCode::kDataLoss) << tensors.status();
      continue;
    }
    ASSERT_TRUE(tensors.ok()) << tensors.status();
    EXPECT_EQ((*tensors)->Tensors().empty(), name.ends_with("-metadata"));
    CheckStoredTensors(**tensors);
  }
}

TEST(CheckpointSeedsTest, SafetensorsSeedsOpen) {
  const auto seeds = Collect(SafetensorsSeeds);
  EXPECT_EQ(seeds.size(), 6u + 2 + 1);  // Miniatures, two headers, every dtype.
  CheckSeeds(seeds, engine::ReadSafetensors);
}

TEST(CheckpointSeedsTest, GgufSeedsOpen) {
  const auto seeds = Collect(GgufSeeds);
  EXPECT_EQ(seeds.size(), 4u * 2 + 1);
  CheckSeeds(seeds, engine::ReadGguf);
  auto every = engine::ReadGguf(engine::MappedFile::FromBytes("x", seeds.at("every-type")));
  ASSERT_TRUE(every.ok());
  EXPECT_EQ((*every)->Tensors().size(), 11u);
}

}  // namespace
}  // namespace rwkv::fuzz
