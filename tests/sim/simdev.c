/* Registry of the built-in simulated device models. */
#include "simdev.h"

#include <string.h>

extern const struct simdev_class simdev_xmodem;
extern const struct simdev_class simdev_pic32;
extern const struct simdev_class simdev_stm32;

static const struct simdev_class *const simdev_classes[] = {
    &simdev_xmodem,
    &simdev_pic32,
    &simdev_stm32,
};

const struct simdev_class *simdev_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof(simdev_classes) / sizeof(simdev_classes[0]); i++)
        if (strcmp(simdev_classes[i]->name, name) == 0)
            return simdev_classes[i];
    return NULL;
}
