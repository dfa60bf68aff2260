// MappedFile::Release: the released pages leave the process's resident memory and the bytes stay
// readable; ranges that are not the file's own are ignored.
#include "engine/model/formats/mapped_file.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/process_memory.h"
#include "tests/util/scoped_temp_dir.h"

namespace rwkv::engine {
namespace {

constexpr size_t kFileBytes = size_t{64} << 20;

uint8_t ByteAt(size_t i) { return static_cast<uint8_t>((i * 2654435761u) >> 13); }

std::string WriteFile(const std::string& dir, size_t bytes) {
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/data.bin";
  std::string data(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<char>(ByteAt(i));
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(data.data(), data.size());
  return path;
}

// Reads one byte of every page and checks it, so that every page is resident.
void TouchAndCheck(absl::Span<const uint8_t> bytes, size_t base = 0) {
  for (size_t i = 0; i < bytes.size(); i += 4096) ASSERT_EQ(bytes[i], ByteAt(base + i)) << i;
}

int64_t Rss() { return ReadProcessMemory()->rss_bytes; }

TEST(MappedFileTest, ReleaseLowersResidentMemoryAndKeepsTheBytes) {
  testing::ScopedTempDir dir;
  auto file = MappedFile::Open(WriteFile(dir.path(), kFileBytes));
  ASSERT_TRUE(file.ok()) << file.status();
  const absl::Span<const uint8_t> bytes = (*file)->bytes();
  TouchAndCheck(bytes);
  const int64_t touched = Rss();
  (*file)->Release(bytes);
  const int64_t released = Rss();
  // Never timed and never exact (the allocator and the test framework move too): not higher.
  EXPECT_LE(released, touched);
  TouchAndCheck(bytes);  // paged in again from the file, unchanged
}

TEST(MappedFileTest, ReleaseOfPartOfTheFileKeepsEveryByte) {
  testing::ScopedTempDir dir;
  auto file = MappedFile::Open(WriteFile(dir.path(), 3 * 4096 + 100));
  ASSERT_TRUE(file.ok()) << file.status();
  const absl::Span<const uint8_t> bytes = (*file)->bytes();
  // Not page-aligned at either end: the pages around it are released too, and read back.
  (*file)->Release(bytes.subspan(5000, 4000));
  for (size_t i = 0; i < bytes.size(); ++i) ASSERT_EQ(bytes[i], ByteAt(i)) << i;
}

TEST(MappedFileTest, ContainsOnlyItsOwnBytes) {
  auto file = MappedFile::FromBytes("held", std::string(100, 'x'));
  const absl::Span<const uint8_t> bytes = file->bytes();
  EXPECT_TRUE(file->Contains(bytes));
  EXPECT_TRUE(file->Contains(bytes.subspan(10, 20)));
  EXPECT_TRUE(file->Contains(bytes.subspan(100, 0)));
  const uint8_t elsewhere[4] = {1, 2, 3, 4};
  EXPECT_FALSE(file->Contains(absl::MakeConstSpan(elsewhere)));
  EXPECT_FALSE(file->Contains(absl::MakeConstSpan(bytes.data() + 50, 51)));
}

TEST(MappedFileTest, ReleaseIgnoresHeldBytesAndForeignRanges) {
  auto held = MappedFile::FromBytes("held", std::string(8192, 'y'));
  held->Release(held->bytes());  // bytes in memory: nothing to release
  EXPECT_EQ(held->bytes()[4096], 'y');
  testing::ScopedTempDir dir;
  auto file = MappedFile::Open(WriteFile(dir.path(), 8192));
  ASSERT_TRUE(file.ok()) << file.status();
  (*file)->Release(held->bytes());  // not its own: ignored
  EXPECT_EQ(held->bytes()[0], 'y');
  TouchAndCheck((*file)->bytes());
}

}  // namespace
}  // namespace rwkv::engine
