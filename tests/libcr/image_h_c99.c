/* image_h_c99.c -- include/crmpi/image.h must stay plain C99 (a kernel module
 * and C tools include it): this file is compiled with -std=c99 -pedantic,
 * and the header's layout assertions run here too. */
#include "crmpi/image.h"

int crmpi_image_h_c99_version(void) {
  struct crmpi_file_header h = {{0}, CRMPI_IMAGE_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  return (int)h.version + (int)sizeof(struct crmpi_thread_record);
}
