#include <ATen/Parallel.h>
#include <ATen/ops/tensor.h>

#include <dlfcn.h>

#include <filesystem>
#include <thread>

#include "pipeline/edge.h"
#include "io/weights.h"
#include "models/sam3/detector.h"
#include "nn/compat.h"
#include "pipeline/memory_tuning.h"
#include "pipeline/placement.h"
#include "pipeline/preprocess.h"
#include "pipeline/threading.h"
#include "pipeline/model_impl.h"
#include "sam3rt/error.h"

namespace sam3rt {

namespace fs = std::filesystem;


Model::Impl::TextFeatures Model::Impl::text_features(const std::string& text) const {
  {
    std::lock_guard<std::mutex> lock(text_mutex_);
    auto it = text_index_.find(text);
    if (it != text_index_.end()) {
      text_lru_.splice(text_lru_.begin(), text_lru_, it->second);  // now the most recent
      return it->second->second;
    }
  }
  // Encoded outside the lock: other texts are served meanwhile.
  SAM3RT_CHECK(tokenizer.has_value() && modules->detector.has_value(), kUnsupported,
               "this model (", model_type_name(config.type), ") has no text encoder");
  const int64_t context = config.detector->text.max_position_embeddings;
  const auto enc = tokenizer->encode(text, static_cast<int>(context));
  const int64_t vocab = config.detector->text.vocab_size;
  for (const int64_t id : enc.ids) {
    SAM3RT_CHECK(id < vocab, kUnsupported, "text \"", text, "\" needs token id ", id,
                 ", but this model's text encoder knows only ", vocab, " tokens (its vocabulary is smaller than ",
                 "the tokenizer's ", tokenizer->vocab_size(), "): it cannot take text prompts");
  }
  at::Tensor ids = at::tensor(enc.ids, at::TensorOptions().dtype(at::kLong)).view({1, -1}).to(placement.device);
  at::Tensor mask =
      at::tensor(enc.attention_mask, at::TensorOptions().dtype(at::kLong)).view({1, -1}).to(placement.device);
  TextFeatures tf{models::encode_text(*modules, ids, mask), mask.to(at::kBool)};
  std::lock_guard<std::mutex> lock(text_mutex_);
  auto it = text_index_.find(text);
  if (it != text_index_.end()) {
    // Another thread encoded the same text meanwhile: keep the first (equal) features.
    text_lru_.splice(text_lru_.begin(), text_lru_, it->second);
    return it->second->second;
  }
  text_lru_.emplace_front(text, tf);
  text_index_.emplace(text, text_lru_.begin());
  if (text_lru_.size() > kTextCacheEntries) {
    text_index_.erase(text_lru_.back().first);
    text_lru_.pop_back();
  }
  return tf;
}

size_t Model::Impl::text_cache_size() const {
  std::lock_guard<std::mutex> lock(text_mutex_);
  return text_lru_.size();
}

const Model::Impl& model_impl(const Model& model) { return *model.impl_; }

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::shared_ptr<const Model> Model::load(const ModelOptions& options) {
  return pipeline::at_edge([&] {
    const fs::path dir(options.model_dir);
    SAM3RT_CHECK(!options.model_dir.empty(), kInvalidArgument, "no model folder given");
    // Keep large activation buffers instead of returning them to the kernel each pass
    // (first touch of fresh pages is slow here); once per process, see memory_tuning.h.
    if (options.tune_allocator) pipeline::tune_allocator_for_inference();
    SAM3RT_CHECK(fs::is_directory(dir), kNotFound, options.model_dir, ": model folder not found");
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    impl->placement = pipeline::parse_placement(options.device, options.precision);
    if (impl->placement.device.is_cuda()) nn::compat::allow_tf32(options.allow_tf32);
    // ATen defaults to one intra-op thread on these machines (toolchain.md §4); who gets
    // the cores depends on the BLAS (pipeline/threading.h). Before the kernels are chosen:
    // "auto" measures with these threads.
    pipeline::apply_thread_plan(pipeline::plan_threads(options.num_threads));
    if (impl->placement.device.is_cpu()) {
      impl->placement.kernels = pipeline::cpu_kernels(options.cpu_gemm, options.fused_attention);
      pipeline::choose_bf16_kernels(impl->placement);
    }
    impl->config = load_model_config((dir / "config.json").string());
    // Weights converted at load (bf16) are read tensor by tensor, so that the float32 file
    // is never resident all at once (peak memory); float32 CPU weights are views of it.
    const bool converts = impl->placement.matmul_dtype != at::kFloat && impl->placement.device.is_cpu();
    impl->file = io::SafetensorsFile::open((dir / "model.safetensors").string(), /*populate=*/!converts);
    {
      io::WeightStore store(impl->file);
      store.set_placement(impl->placement);
      impl->modules = models::bind_modules(impl->config, store);
      store.finish((dir / "model.safetensors").string());
    }
    // Weights copied at load (bf16, or on a GPU): the file's pages need not stay resident.
    // Copied weights (bf16, or on a GPU): the file's pages need not stay resident.
    if (converts || !impl->placement.device.is_cpu()) impl->file->release_resident_pages();
    if (impl->modules->detector) {
      const fs::path vocab_json = dir / "vocab.json", merges = dir / "merges.txt";
      if (fs::is_regular_file(vocab_json) && fs::is_regular_file(merges)) {
        impl->tokenizer = text::ClipTokenizer::from_hf_files(vocab_json.string(), merges.string());
      } else {
        const std::string bpe = find_bpe_vocab(options.bpe_vocab_path);
        SAM3RT_CHECK(!bpe.empty(), kNotFound, options.model_dir,
                     ": no tokenizer files (vocab.json + merges.txt) and the bundled bpe_simple_vocab_16e6.txt.gz "
                     "was not found");
        impl->tokenizer = text::ClipTokenizer::from_bpe_gz(bpe);
      }
      // A text encoder with a smaller vocabulary than the tokenizer (test checkpoints) still
      // loads: clicks, boxes and video need no text; a text it cannot encode is refused
      // when it is given (text_features).
    }
    return std::shared_ptr<const Model>(new Model(std::move(impl)));
  });
}

namespace {

// Float32 bytes of one vision neck's levels (one per scale factor) for a G x G grid.
size_t neck_bytes(const VisionConfig& v) {
  const double g = static_cast<double>(v.backbone.grid());
  double cells = 0;
  for (double s : v.scale_factors) cells += (s * g) * (s * g);
  return static_cast<size_t>(cells) * static_cast<size_t>(v.fpn_hidden_size) * sizeof(float);
}

}  // namespace

std::string Model::compute_path() const { return pipeline::describe_kernels(impl_->placement); }

size_t Model::estimated_image_bytes(int64_t width, int64_t height) const {
  const ModelConfig& c = impl_->config;
  size_t bytes = static_cast<size_t>(width) * static_cast<size_t>(height) * 3;
  const VisionConfig* vit = nullptr;
  if (c.detector) {
    bytes += neck_bytes(c.detector->vision);
    vit = &c.detector->vision;
  }
  if (c.tracker && c.tracker->vision) {
    bytes += neck_bytes(*c.tracker->vision);
    if (!vit) vit = &*c.tracker->vision;
  }
  if (vit) {
    const auto g = static_cast<size_t>(vit->backbone.grid());
    bytes += g * g * static_cast<size_t>(vit->backbone.hidden_size) * sizeof(float);
  }
  if (c.tracker && c.tracker->hiera) {
    // SAM 2 keeps only the neck's levels (4G, 2G and G squares of fpn_hidden_size).
    const HieraVisionConfig& h = *c.tracker->hiera;
    double cells = 0;
    for (const auto& hw : h.backbone_feature_sizes) cells += static_cast<double>(hw[0] * hw[1]);
    bytes += static_cast<size_t>(cells) * static_cast<size_t>(h.fpn_hidden_size) * sizeof(float);
  }
  return bytes;
}

std::string Model::type_name() const { return model_type_name(impl_->config.type); }
bool Model::can_segment_concepts() const { return impl_->modules->detector.has_value(); }
bool Model::can_segment_objects() const { return impl_->modules->tracker.has_value(); }
bool Model::can_track_video() const {
  return impl_->modules->tracker.has_value() && impl_->modules->tracker->memory.has_value();
}
int64_t Model::low_res_mask_size() const {
  return impl_->modules->tracker ? 4 * impl_->modules->tracker->prompt_encoder.grid() : 0;
}
int64_t Model::image_size() const { return impl_->config.image_size(); }

at::Tensor Model::Impl::preprocess(const at::Tensor& rgb) const {
  // The uint8 image goes to the device first (a quarter of the float bytes), and is
  // resized and normalised there.
  return pipeline::preprocess_image(rgb.to(placement.device), config.image_size(), config.image_mean,
                                    config.image_std);
}

at::Tensor Model::Impl::preprocess(const std::vector<at::Tensor>& rgb) const {
  std::vector<at::Tensor> on_device;
  for (const auto& r : rgb) on_device.push_back(r.to(placement.device));
  return pipeline::preprocess_batch(on_device, config.image_size(), config.image_mean, config.image_std);
}
const ModelOptions& Model::options() const { return impl_->options; }
bool Model::has_random_weights() const {
  auto it = impl_->file->metadata().find("producer");
  return it != impl_->file->metadata().end() && it->second.rfind("sam3rt make-random-checkpoint", 0) == 0;
}

}  // namespace sam3rt

namespace sam3rt::developer {

std::string find_bpe_vocab(const std::string& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  const char* kName = "bpe_simple_vocab_16e6.txt.gz";
  std::vector<fs::path> dirs;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  // The folder this library was loaded from (an installed libsam3rt.so used by another
  // program, e.g. Python): PREFIX/lib/../share/sam3rt.
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&find_bpe_vocab), &info) != 0 && info.dli_fname != nullptr) {
    dirs.push_back(fs::path(info.dli_fname).parent_path() / "../share/sam3rt");
  }
  if (!ec) {
    const fs::path bin = exe.parent_path();
    dirs.push_back(bin / "../share/sam3rt");  // installed
    dirs.push_back(bin / "../assets");         // build tree inside the source tree
    dirs.push_back(bin / "../../assets");
  }
#ifdef SAM3RT_SOURCE_ASSETS_DIR
  dirs.push_back(SAM3RT_SOURCE_ASSETS_DIR);
#endif
  for (const auto& d : dirs) {
    const fs::path p = d / kName;
    if (fs::is_regular_file(p, ec)) return fs::weakly_canonical(p, ec).string();
  }
  return {};
}

}  // namespace sam3rt::developer
