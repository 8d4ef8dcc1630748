/* sim_device.h: a user's Spotify Connect devices. A user has up to
 * SIM_DEVICES_MAX known devices, at most one of them active (the one
 * /me/player reports and playback runs on). Transfer makes another known
 * device, or a new one, active; "no device" leaves them all inactive. */
#ifndef SIM_DEVICE_H
#define SIM_DEVICE_H

#include "sim_util.h"

struct cJSON;

#define SIM_DEVICES_MAX 8

/* sim_device: one DeviceObject. */
typedef struct sim_device {
    char *id;
    char *name;
    char *type;       /* Computer, Smartphone, Speaker, ... */
    int volume;       /* volume_percent 0..100 */
} sim_device;

/* sim_devices: the known devices; active is an index or -1 (none). */
typedef struct sim_devices {
    sim_device d[SIM_DEVICES_MAX];
    int n;
    int active;
} sim_devices;

void sim_devices_init(sim_devices *ds);
void sim_devices_free(sim_devices *ds);
/* sim_devices_find returns the index of device id, or -1. */
int sim_devices_find(const sim_devices *ds, const char *id);
/* sim_devices_activate makes a device active from a DeviceObject-like JSON
 * {"id","name","type","volume_percent"} (missing members: defaults, or the
 * known device's), adding it when its id is new (the oldest inactive device
 * makes room when full). NULL or JSON null: no active device. Returns 0, or
 * -1 when obj is neither an object nor null. */
int sim_devices_activate(sim_devices *ds, const struct cJSON *obj);
/* sim_devices_set_list replaces the known devices with a JSON array of
 * device objects; the active one stays active if its id is still listed,
 * else the first becomes active (none if the list is empty). 0 or -1 + err. */
int sim_devices_set_list(sim_devices *ds, const struct cJSON *arr, char *err, size_t errlen);
/* sim_devices_render writes device i as a DeviceObject. */
void sim_devices_render(const sim_devices *ds, int i, int private_session, sim_buf *out);
/* sim_devices_render_list writes {"devices":[...]} (GET /me/player/devices). */
void sim_devices_render_list(const sim_devices *ds, int private_session, sim_buf *out);
/* sim_devices_to_json returns a new array for the control view. */
struct cJSON *sim_devices_to_json(const sim_devices *ds);

#endif
