/* The same as click/click.cpp through the C API, built with pkg-config:
 *   cc click_c.c $(pkg-config --cflags --libs sam3rt) -o click_c
 * Usage: click_c MODEL_DIR IMAGE X,Y [X,Y ...] */
#include <stdio.h>

#include <sam3rt/sam3rt_c.h>

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s MODEL_DIR IMAGE X,Y [X,Y ...]\n", argv[0]);
    return 2;
  }
  sam3rt_model* model = NULL;
  sam3rt_image* image = NULL;
  int rc = 1;
  if (sam3rt_model_load(argv[1], NULL, &model) != SAM3RT_OK || sam3rt_image_create(model, &image) != SAM3RT_OK ||
      sam3rt_image_set_file(image, argv[2]) != SAM3RT_OK) {
    fprintf(stderr, "error: %s\n", sam3rt_last_error());
    goto done;
  }
  for (int i = 3; i < argc; ++i) {
    sam3rt_point click = {0, 0, 1};
    if (sscanf(argv[i], "%f,%f", &click.x, &click.y) != 2) {
      fprintf(stderr, "not a click: %s (want X,Y)\n", argv[i]);
      goto done;
    }
    sam3rt_result* r = NULL;
    if (sam3rt_image_predict(image, &click, 1, NULL, NULL, -1, &r) != SAM3RT_OK) {
      fprintf(stderr, "error: %s\n", sam3rt_last_error());
      goto done;
    }
    const sam3rt_instance* best = &r->instances[r->best];
    printf("click %g,%g: %zu candidates, best %lld iou %.4f area %lld box %g,%g,%g,%g\n", click.x, click.y,
           r->count, (long long)best->id, best->score, (long long)best->area, best->box.x1, best->box.y1,
           best->box.x2, best->box.y2);
    sam3rt_result_free(r);
  }
  rc = 0;
done:
  sam3rt_image_free(image);
  sam3rt_model_free(model);
  return rc;
}
