// rwkv-fuzz-seeds: writes the seed corpus of every fuzz target from the shared test data, at run
// time, so that no test data is copied into the repository (scripts/fuzz.sh runs it).
//
//   rwkv-fuzz-seeds --shared ../shared --out /tmp/corpus
//   # /tmp/corpus/<target>/<seed>, one folder per tests/fuzz/<target>.cc
//
// Seeds are real data in each target's input format: miniatures and truncated copies of the
// tiny models (kept small, as libFuzzer runs slower on large inputs), slices of the World
// vocabulary, state blobs encoding rwkv.cpp's reference states, session records, and Generate
// requests and stop-string streams made from the reference prompts.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/command_line.h"
#include "common/hash64.h"
#include "engine/model/formats/pickle_reader.h"
#include "engine/model/formats/zip_reader.h"
#include "engine/model/quantization.h"
#include "engine/model/rwkv_cpp_file.h"
#include "rwkv/v1/rwkv.pb.h"
#include "server/sessions/session_blob.h"
#include "server/sessions/session_record_codec.h"
#include "tests/engine/model/formats/torch_test_files.h"
#include "tests/fuzz/checkpoint_seeds.h"
#include "tests/fuzz/fuzz_input.h"

ABSL_FLAG(std::string, shared, "../shared", "The shared test data folder.");
ABSL_FLAG(std::string, out, "", "Where to write <target>/<seed> files (required).");

namespace rwkv::fuzz {
namespace {

namespace fs = std::filesystem;
using engine::RwkvCppFile;
using engine::TensorInfo;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "rwkv-fuzz-seeds: cannot read %s\n", path.c_str());
    std::exit(1);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Writes seeds into one target's folder.
class Corpus {
 public:
  Corpus(const fs::path& root, const std::string& target) : target_(target), dir_(root / target) {
    fs::create_directories(dir_);
  }
  void Add(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
    ++count_;
  }
  void Report() const { std::printf("rwkv-fuzz-seeds: %s: %d seeds\n", target_.c_str(), count_); }
  // Every seed of `other` too (model_formats_fuzzer opens what each reader's target reads).
  void AddAllOf(const Corpus& other) {
    for (const auto& entry : fs::directory_iterator(other.dir_)) {
      fs::copy_file(entry.path(), dir_ / (other.target_ + "-" + entry.path().filename().string()),
                    fs::copy_options::overwrite_existing);
      ++count_;
    }
  }

 private:
  std::string target_;
  fs::path dir_;
  int count_ = 0;
};

// The shared tiny models (rwkv.cpp .bin files), in name order.
std::vector<fs::path> ModelFiles(const fs::path& shared) {
  std::vector<fs::path> models;
  for (const auto& entry : fs::directory_iterator(shared / "models")) {
    if (entry.path().filename().string().starts_with("tiny-rwkv-")) models.push_back(entry.path());
  }
  std::sort(models.begin(), models.end());
  return models;
}

// ---- Model files ----

void AppendI32(std::string& out, int64_t value) {
  const auto v = static_cast<uint32_t>(value);
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>(v >> shift));
}

// A dimension of the miniature: an eighth, with quantized rows kept a whole block.
int64_t Shrink(int64_t n, bool quantized_row) {
  if (quantized_row) return engine::kQuantBlockElements;
  return std::max<int64_t>(1, n / 8);
}

bool InFirstTwoLayers(const std::string& name) {
  return !name.starts_with("blocks.") || name.starts_with("blocks.0.") ||
         name.starts_with("blocks.1.");
}

// The same header, tensor names, types and dimension counts with every dimension shrunk
// consistently (so the model still configures) and each tensor's data the first bytes of the
// real data; layers past the second are left out.
std::string Miniature(const RwkvCppFile& file) {
  const RwkvCppFile::Header& h = file.header();
  std::string out;
  AppendI32(out, RwkvCppFile::kMagic);
  for (int64_t v : {int64_t{h.version}, Shrink(h.n_vocab, false), Shrink(h.n_embed, false),
                    int64_t{2}, int64_t{h.data_type}}) {
    AppendI32(out, v);
  }
  for (const TensorInfo& info : file.Tensors()) {
    if (!InFirstTwoLayers(info.name)) continue;
    TensorInfo mini = info;
    for (size_t i = 0; i < mini.ne.size(); ++i) {
      mini.ne[i] = Shrink(info.ne[i], i == 0 && engine::IsBlockQuantized(info.type));
    }
    std::string data(engine::StoredBytes(mini.type, mini.NumElements()).value(), '\0');
    const absl::Span<const uint8_t> real = file.RawData(info.name).value();
    std::copy_n(real.begin(), std::min(real.size(), data.size()), data.begin());
    AppendI32(out, mini.ne.size());
    AppendI32(out, mini.name.size());
    AppendI32(out, static_cast<int32_t>(mini.type));
    for (int64_t n : mini.ne) AppendI32(out, n);
    out += mini.name + data;
  }
  return out;
}

void ModelSeeds(const fs::path& shared, Corpus& corpus) {
  for (const fs::path& path : ModelFiles(shared)) {
    const std::string bytes = ReadFile(path);
    auto file = RwkvCppFile::FromBytes(path.string(), bytes);
    if (!file.ok()) {
      std::fprintf(stderr, "rwkv-fuzz-seeds: %s\n", file.status().ToString().c_str());
      std::exit(1);
    }
    const std::string stem = path.stem().string();
    corpus.Add("mini-" + stem, Miniature(**file));
    corpus.Add("truncated-" + stem, bytes.substr(0, 4096));  // ends inside a record
  }
}

// ---- World vocabulary ----

void VocabSeeds(const fs::path& shared, Corpus& corpus) {
  const std::vector<std::string> lines = absl::StrSplit(
      ReadFile(shared / "tokenizers" / "rwkv_vocab_v20230424.txt"), '\n', absl::SkipEmpty());
  // Every vocabulary that loads needs the 256 single bytes, the first 256 lines. The lines kept
  // are numbered anew from 1: a parse takes time in proportion to the highest ID.
  const auto bytes_then = [&](auto keep) {
    std::string out;
    int id = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i < 256 || keep(i, lines[i])) {
        out += absl::StrCat(++id, lines[i].substr(lines[i].find(' ')), "\n");
      }
    }
    return out;
  };
  int escapes = 0, literals = 0;
  corpus.Add("single-bytes", bytes_then([](size_t, const std::string&) { return false; }));
  corpus.Add("every-97th", bytes_then([](size_t i, const std::string&) { return i % 97 == 0; }));
  corpus.Add("escapes", bytes_then([&](size_t, const std::string& line) {
               return line.find('\\') != std::string::npos && ++escapes <= 100;
             }));
  corpus.Add("bytes-literals", bytes_then([&](size_t, const std::string& line) {
               return line.find(" b'") != std::string::npos && ++literals <= 100;
             }));
  corpus.Add("last-64", bytes_then([&](size_t i, const std::string&) {
               return i + 64 >= lines.size();
             }));
  std::string no_single_bytes;
  for (size_t i = 256; i < std::min<size_t>(lines.size(), 400); ++i) {
    no_single_bytes += lines[i] + "\n";
  }
  corpus.Add("no-single-bytes", no_single_bytes);
}

// ---- Reference texts and states ----

google::protobuf::Struct ReadJson(const fs::path& path) {
  google::protobuf::Struct json;
  if (!google::protobuf::util::JsonStringToMessage(ReadFile(path), &json).ok()) {
    std::fprintf(stderr, "rwkv-fuzz-seeds: %s is not JSON\n", path.c_str());
    std::exit(1);
  }
  return json;
}

// The reference prompt and the World tokenizer's reference texts.
std::vector<std::string> ReferenceTexts(const fs::path& shared) {
  std::vector<std::string> texts;
  const auto index = ReadJson(shared / "reference" / "index.json");
  const auto& sets = index.fields().at("sets").list_value().values();
  const std::string sidecar = sets.at(0).struct_value().fields().at("sidecar").string_value();
  texts.push_back(
      ReadJson(shared / "reference" / sidecar).fields().at("prompt_text").string_value());
  const auto world = ReadJson(shared / "reference" / "tokenizer-world.json");
  for (const auto& c : world.fields().at("cases").list_value().values()) {
    texts.push_back(c.struct_value().fields().at("text").string_value());
  }
  return texts;
}

std::vector<float> ReadFloats(const fs::path& path) {
  const std::string bytes = ReadFile(path);
  std::vector<float> floats(bytes.size() / sizeof(float));
  std::memcpy(floats.data(), bytes.data(), floats.size() * sizeof(float));
  return floats;
}

// One blob per architecture with its first floats, the smallest whole state, and an empty one.
void StateBlobSeeds(const fs::path& shared, Corpus& corpus) {
  const auto index = ReadJson(shared / "reference" / "index.json");
  size_t smallest = SIZE_MAX;
  std::string smallest_blob;
  for (const auto& set : index.fields().at("sets").list_value().values()) {
    const auto& fields = set.struct_value().fields();
    const std::string name = fields.at("sidecar").string_value();
    if (name.find("FP32") == std::string::npos) continue;  // one per architecture
    const std::string state_file =
        fields.at("files").struct_value().fields().at("state").string_value();
    std::vector<float> state = ReadFloats(shared / "reference" / state_file);
    const server::BlobHeader header{.model_fingerprint = Hex64(Hash64Of(name)),
                                    .token_count = 300, .version = 1};
    if (state.size() < smallest) {
      smallest = state.size();
      smallest_blob = server::EncodeStateBlob(header, state);
    }
    state.resize(std::min<size_t>(state.size(), 64));
    corpus.Add("first-floats-" + name, server::EncodeStateBlob(header, state));
  }
  corpus.Add("smallest-whole-state", smallest_blob);
  corpus.Add("empty-state", server::EncodeStateBlob({.model_fingerprint = "0123456789abcdef"}, {}));
}

// ---- Session records ----

void SessionRecordSeeds(const std::vector<std::string>& texts, Corpus& corpus) {
  for (size_t i = 0; i < texts.size(); ++i) {
    server::SessionRecord record{.id = absl::StrCat("session-", i, ".demo"),
                                 .model_fingerprint = Hex64(Hash64Of(texts[i])),
                                 .version = static_cast<int64_t>(i),
                                 .token_count = static_cast<int64_t>(texts[i].size()),
                                 .created_at = 1.7e9,
                                 .updated_at = 1.7e9 + i,
                                 .expires_at = i % 2 == 0 ? 0 : 1.8e9,
                                 .state_bytes = 202752};
    if (i % 3 != 0) record.metadata = {{"title", texts[i].substr(0, 64)}, {"user", "fuzz"}};
    std::string input;
    AppendChunk(input, record.id);
    corpus.Add(absl::StrCat("versioned-", i), input + server::EncodeSessionRecord(record));
    rwkv::v1::Session legacy;  // the encoding of servers before the versioned records
    legacy.set_id(record.id);
    legacy.set_model_fingerprint(record.model_fingerprint);
    legacy.set_version(record.version);
    legacy.set_token_count(record.token_count);
    legacy.set_created_at(record.created_at);
    legacy.mutable_metadata()->insert(record.metadata.begin(), record.metadata.end());
    corpus.Add(absl::StrCat("legacy-", i), input + legacy.SerializeAsString());
  }
}

// ---- Generate requests ----

// About `n` bytes of `text` from `pos`, moved to whole UTF-8 characters (protobuf refuses to
// serialize a string field that is not UTF-8).
std::string Utf8Slice(const std::string& text, size_t pos, size_t n) {
  const auto continuation = [&](size_t i) {
    return i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80;
  };
  size_t end = std::min(text.size(), pos + n);
  while (continuation(pos)) ++pos;
  while (continuation(end)) ++end;
  return text.substr(pos, end > pos ? end - pos : 0);
}

void GenerateRequestSeeds(const std::vector<std::string>& texts, Corpus& corpus) {
  for (size_t i = 0; i < texts.size(); ++i) {
    rwkv::v1::GenerateRequest plain;
    plain.set_text(texts[i]);
    corpus.Add(absl::StrCat("text-", i), plain.SerializeAsString());

    rwkv::v1::GenerateRequest full = plain;
    full.set_session_id(absl::StrCat("chat-", i));
    full.set_create_session(true);
    full.set_on_cancel(rwkv::v1::CANCEL_POLICY_KEEP);
    auto* sampling = full.mutable_sampling();
    sampling->set_temperature(0.8f);
    sampling->set_top_k(40);
    sampling->set_top_p(0.9f);
    sampling->set_min_p(0.05f);
    sampling->set_presence_penalty(0.5f);
    sampling->set_frequency_penalty(0.2f);
    sampling->set_repetition_penalty(1.1f);
    sampling->set_penalty_window(64);
    (*sampling->mutable_logit_bias())[10] = -100;
    (*sampling->mutable_logit_bias())[32] = 2.5f;
    sampling->set_seed(42 + i);
    auto* stop = full.mutable_stop();
    stop->set_max_tokens(64);
    stop->add_stop_strings("\n\n");
    stop->add_stop_strings(Utf8Slice(texts[i], texts[i].size() / 2, 6));
    stop->add_stop_tokens(0);
    stop->add_stop_tokens(10);
    corpus.Add(absl::StrCat("full-", i), full.SerializeAsString());

    rwkv::v1::GenerateRequest tokens;  // the prompt's bytes as the tiny models' token IDs
    for (const unsigned char c : texts[i]) tokens.mutable_tokens()->add_ids(c);
    tokens.set_session_id(absl::StrCat("chat-", i));
    tokens.set_expected_version(3);
    tokens.mutable_sampling()->set_temperature(0);
    tokens.mutable_stop()->set_ignore_end_of_text(true);
    corpus.Add(absl::StrCat("tokens-", i), tokens.SerializeAsString());
  }
}

// ---- Stop strings ----

// Stop strings found in the text, one not in it, and the text in pieces of 1 to 4 bytes, as
// tokens decode.
void StopMatcherSeeds(const std::vector<std::string>& texts, Corpus& corpus) {
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string& text = texts[i];
    const std::vector<std::string> stops = {text.substr(text.size() / 2, 5),
                                            text.substr(text.size() - std::min<size_t>(8, text.size())),
                                            text.substr(0, 3) + "\xff", "\n\nUser:"};
    std::string input(1, static_cast<char>(stops.size()));
    for (const std::string& stop : stops) AppendChunk(input, stop);
    for (size_t pos = 0, n = 1; pos < text.size(); pos += n, n = n % 4 + 1) {
      AppendChunk(input, text.substr(pos, n));
    }
    corpus.Add(absl::StrCat("text-", i), input);
  }
}


// ---- PyTorch checkpoints ----

// The .pth fixtures, in name order.
std::vector<fs::path> TorchFiles(const fs::path& shared) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(shared / "models" / "formats")) {
    if (entry.path().extension() == ".pth") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// A fixture's zip archive and its data.pkl's tensors.
struct TorchFixture {
  std::string pickle;
  std::vector<engine::PickledTensor> tensors;
};

TorchFixture ReadTorchFixture(const fs::path& path) {
  auto zip = engine::ZipArchive::Open(engine::MappedFile::FromBytes(path.string(), ReadFile(path)));
  const engine::ZipEntry* pickle = nullptr;
  if (zip.ok()) {
    for (const engine::ZipEntry& entry : zip->entries()) {
      if (entry.name.ends_with("/data.pkl")) pickle = &entry;
    }
  }
  if (pickle == nullptr) {
    std::fprintf(stderr, "rwkv-fuzz-seeds: %s: no data.pkl\n", path.c_str());
    std::exit(1);
  }
  TorchFixture fixture{std::string(pickle->data.begin(), pickle->data.end()), {}};
  auto tensors = engine::ReadStateDictPickle(pickle->data, path.string());
  if (!tensors.ok()) {
    std::fprintf(stderr, "rwkv-fuzz-seeds: %s\n", tensors.status().ToString().c_str());
    std::exit(1);
  }
  fixture.tensors = std::move(*tensors);
  return fixture;
}

// The first tensors of a fixture, each cut to at most 4 per dimension, in a small torch.save-
// shaped archive whose storages hold exactly those elements.
std::string MiniatureCheckpoint(const std::vector<engine::PickledTensor>& tensors) {
  std::vector<std::string> items;
  std::vector<std::pair<std::string, std::string>> entries = {{"mini/data.pkl", ""},
                                                              {"mini/byteorder", "little"}};
  for (size_t i = 0; i < std::min<size_t>(tensors.size(), 6); ++i) {
    std::vector<int64_t> shape, stride(tensors[i].shape.size());
    for (const int64_t d : tensors[i].shape) shape.push_back(std::min<int64_t>(d, 4));
    int64_t numel = 1;
    for (size_t d = shape.size(); d-- > 0;) {
      stride[d] = numel;
      numel *= shape[d];
    }
    const std::string key = absl::StrCat(i);
    items.push_back(engine::torch_test::TensorItem(
        tensors[i].name, std::string(engine::TorchStorageTypeName(tensors[i].storage_type)), key,
        numel, 0, shape, stride));
    entries.push_back({"mini/data/" + key,
                       engine::torch_test::Bytes(numel * engine::TorchStorageElementBytes(
                                                             tensors[i].storage_type))});
  }
  entries[0].second = engine::torch_test::StateDictPickle(items);
  return engine::torch_test::StoredZip(entries);
}

// Whole archives only for the small real file; miniatures of every fixture.
// sampler_fuzzer's input (its header): vocabulary size (2 bytes), temperature, top_p, min_p (raw
// float bits, 4 bytes each), a seed byte, a flags byte (bit 0: a logit bias; bits 1-7: top_k),
// then the logits.
void SamplerSeeds(Corpus& corpus) {
  auto seed = [&](const std::string& name, uint16_t vocab, float temperature, float top_p,
                  float min_p, uint8_t flags, const std::vector<float>& logits) {
    std::string bytes = {static_cast<char>(vocab & 0xff), static_cast<char>(vocab >> 8)};
    for (const float value : {temperature, top_p, min_p}) {
      const uint32_t bits = std::bit_cast<uint32_t>(value);
      for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>(bits >> (8 * i)));
    }
    bytes += {static_cast<char>(7), static_cast<char>(flags)};
    for (const float logit : logits) {
      const uint32_t bits = std::bit_cast<uint32_t>(logit);
      for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>(bits >> (8 * i)));
    }
    corpus.Add(name, bytes);
  };
  std::vector<float> flat(64), peaked(64);
  for (int i = 0; i < 64; ++i) {
    flat[i] = 0.01f * static_cast<float>(i % 7);
    peaked[i] = i == 5 ? 8.0f : -0.1f * static_cast<float>(i);
  }
  const float inf = std::numeric_limits<float>::infinity();
  seed("flat-top-p", 64, 1.0f, 0.9f, 0.0f, 0, flat);
  seed("peaked-min-p", 64, 0.7f, 1.0f, 0.05f, 0, peaked);
  seed("both-with-bias", 64, 1.3f, 0.5f, 0.1f, 1, peaked);
  seed("non-finite", 8, 1.0f, 0.95f, 0.0f, 0,
       {std::nanf(""), inf, -inf, 1.0f, 1.0f, 0.0f, -1.0f, 2.0f});
  seed("top-k-40-top-p", 64, 0.7f, 0.95f, 0.0f, 40 << 1, flat);
  seed("top-k-3-ties", 8, 1.0f, 1.0f, 0.0f, 3 << 1,
       {1.0f, std::nanf(""), 1.0f, -0.0f, 0.0f, 1.0f, inf, -inf});
}

void TorchSeeds(const fs::path& shared, Corpus& checkpoints, Corpus& pickles) {
  for (const fs::path& path : TorchFiles(shared)) {
    const TorchFixture fixture = ReadTorchFixture(path);
    const std::string stem = path.stem().string();
    const std::string mini = MiniatureCheckpoint(fixture.tensors);
    checkpoints.Add("mini-" + stem, mini);
    if (fs::file_size(path) < 256 * 1024) checkpoints.Add("whole-" + stem, ReadFile(path));
    pickles.Add("pickle-" + stem, fixture.pickle);
  }
}

}  // namespace
}  // namespace rwkv::fuzz

int main(int argc, char** argv) {
  rwkv::ParseCommandLine(argc, argv,
                         "Writes the fuzz targets' seed corpora from the shared test data.\n"
                         "Usage: rwkv-fuzz-seeds --shared ../shared --out DIR");
  namespace fs = std::filesystem;
  using rwkv::fuzz::Corpus;
  const fs::path shared = absl::GetFlag(FLAGS_shared);
  const fs::path out = absl::GetFlag(FLAGS_out);
  if (out.empty()) {
    std::fprintf(stderr, "rwkv-fuzz-seeds: --out is required\n");
    return 2;
  }
  const std::vector<std::string> texts = rwkv::fuzz::ReferenceTexts(shared);
  Corpus models(out, "model_file_fuzzer"), vocab(out, "world_vocab_fuzzer"),
      blobs(out, "state_blob_fuzzer"), records(out, "session_record_fuzzer"),
      requests(out, "generate_request_fuzzer"), stops(out, "stop_matcher_fuzzer");
  Corpus checkpoints(out, "torch_checkpoint_fuzzer"), pickles(out, "pickle_fuzzer");
  rwkv::fuzz::TorchSeeds(shared, checkpoints, pickles);
  checkpoints.Report();
  pickles.Report();
  rwkv::fuzz::ModelSeeds(shared, models);
  rwkv::fuzz::VocabSeeds(shared, vocab);
  rwkv::fuzz::StateBlobSeeds(shared, blobs);
  rwkv::fuzz::SessionRecordSeeds(texts, records);
  rwkv::fuzz::GenerateRequestSeeds(texts, requests);
  rwkv::fuzz::StopMatcherSeeds(texts, stops);
  Corpus safetensors(out, "safetensors_fuzzer"), gguf(out, "gguf_fuzzer");
  rwkv::fuzz::SafetensorsSeeds(shared,
                               [&](auto& name, auto& bytes) { safetensors.Add(name, bytes); });
  rwkv::fuzz::GgufSeeds(shared, [&](auto& name, auto& bytes) { gguf.Add(name, bytes); });
  Corpus formats(out, "model_formats_fuzzer");
  for (const Corpus* corpus : {&models, &checkpoints, &safetensors, &gguf}) {
    formats.AddAllOf(*corpus);
  }
  for (const Corpus* corpus :
       {&models, &vocab, &blobs, &records, &requests, &stops, &safetensors, &gguf, &formats}) {
    corpus->Report();
  }
  Corpus sampler(out, "sampler_fuzzer");
  rwkv::fuzz::SamplerSeeds(sampler);
  sampler.Report();
  Corpus bpe(out, "bpe_tokenizer_fuzzer");  // the reference texts, as text to tokenize
  for (size_t i = 0; i < texts.size(); ++i) bpe.Add(absl::StrCat("text-", i), texts[i]);
  bpe.Report();
  // OpenAI request bodies: the endpoint byte ('0' chat, '1' completion), then the JSON.
  Corpus openai(out, "openai_request_fuzzer");
  openai.Add("chat", R"(0{"model":"m","messages":[{"role":"system","content":"Be terse."},)"
                     R"({"role":"user","content":[{"type":"text","text":"hi"}]}],)"
                     R"("max_tokens":8,"temperature":0.5,"top_p":0.9,"stop":["x"],"seed":1,)"
                     R"("logit_bias":{"65":-100},"n":1,"stream":true,)"
                     R"("stream_options":{"include_usage":true},"session_id":"s-1",)"
                     R"("create_session":true,"expected_version":0})");
  openai.Add("completion", R"(1{"prompt":"Once upon","max_completion_tokens":4,"stop":"."})");
  for (size_t i = 0; i < std::min<size_t>(texts.size(), 4); ++i) {
    openai.Add(absl::StrCat("text-", i), absl::StrCat("1", nlohmann::json({{"prompt", texts[i]}})
                                                              .dump(-1, ' ', false,
                                                                    nlohmann::json::error_handler_t::replace)));
  }
  openai.Report();
  return 0;
}
