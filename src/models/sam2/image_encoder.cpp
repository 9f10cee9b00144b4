#include "models/sam2/image_encoder.h"

namespace sam3rt::models {

Sam2ImageEncoder::Sam2ImageEncoder(const HieraVisionConfig& c, const io::WeightScope& s)
    : hiera_(c.backbone, s.sub("backbone")), neck_(c, s.sub("neck")) {}

std::vector<at::Tensor> Sam2ImageEncoder::encode(const at::Tensor& pixel_values, Trace* trace) const {
  return neck_.forward(hiera_.forward(pixel_values, trace), trace);
}

}  // namespace sam3rt::models
