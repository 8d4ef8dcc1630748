# tests/sim/sim.mk: builds bin/spotify-sim (the Spotify Web API + accounts
# simulator). Included by the top-level Makefile; uses its CC, CFLAGS and
# LDFLAGS. Objects go to build/sim/.

SIM_SRCS := tests/sim/sim_main.c tests/sim/sim_http.c tests/sim/sim_api.c \
            tests/sim/sim_accounts.c tests/sim/sim_control.c tests/sim/sim_faults.c \
            tests/sim/sim_state.c tests/sim/sim_playback.c tests/sim/sim_rl.c \
            tests/sim/sim_config.c tests/sim/sim_clock.c tests/sim/sim_util.c \
            tests/sim/sim_developer.c tests/sim/sim_device.c tests/sim/sim_history.c \
            tests/sim/sim_flap.c
SIM_OBJS := $(SIM_SRCS:tests/sim/%.c=build/sim/%.o)
SIM_PKGS := libmicrohttpd libcjson libcrypto zlib
SIM_CPPFLAGS = -Itests/sim $(shell pkg-config --cflags $(SIM_PKGS)) \
                $(if $(findstring -D_GNU_SOURCE,$(CFLAGS)),,-D_GNU_SOURCE)
SIM_LIBS = $(shell pkg-config --libs $(SIM_PKGS)) -lpthread

bin/spotify-sim: $(SIM_OBJS)
	@mkdir -p bin
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(SIM_OBJS) $(SIM_LIBS)

build/sim/%.o: tests/sim/%.c
	@mkdir -p build/sim
	$(CC) $(CFLAGS) $(SIM_CPPFLAGS) -c -o $@ $<

-include $(SIM_OBJS:.o=.d)
