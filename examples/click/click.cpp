// Loads a model, encodes an image once, then answers several clicks on it: what an
// annotation tool does. Usage: click MODEL_DIR IMAGE X,Y [X,Y ...]
// Prints one line per click: the click, the best candidate's IoU, area and box.
#include <cstdio>
#include <exception>
#include <string>

#include <sam3rt/sam3rt.h>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL_DIR IMAGE X,Y [X,Y ...]\n", argv[0]);
    return 2;
  }
  try {
    sam3rt::ModelOptions options;
    options.model_dir = argv[1];
    const auto model = sam3rt::Model::load(options);
    sam3rt::ImageSession session(model);
    session.set_image(sam3rt::decode_image(argv[2]));  // the one encoding
    for (int i = 3; i < argc; ++i) {
      sam3rt::ObjectPrompt click;
      float x = 0, y = 0;
      if (std::sscanf(argv[i], "%f,%f", &x, &y) != 2) {
        std::fprintf(stderr, "not a click: %s (want X,Y)\n", argv[i]);
        return 2;
      }
      click.points = {{x, y}};
      const sam3rt::ObjectResult r = session.predict(click);
      const sam3rt::ObjectMask& best = r.candidates[r.best];
      std::printf("click %g,%g: %zu candidates, best %d iou %.4f area %lld box %g,%g,%g,%g\n", x, y,
                  r.candidates.size(), r.best, best.iou, static_cast<long long>(best.area), best.box.x1,
                  best.box.y1, best.box.x2, best.box.y2);
    }
  } catch (const sam3rt::Error& e) {
    std::fprintf(stderr, "error (%s): %s\n", sam3rt::error_code_name(e.code()), e.what());
    return 1;
  }
  return 0;
}
