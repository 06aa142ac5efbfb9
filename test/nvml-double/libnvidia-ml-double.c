// A stand-in for libnvidia-ml.so.1 with the same symbol names, argument types and return codes as
// the NVML calls footprint makes, so tests load it through the same koffi path as the real library.
//
// Behaviour comes from a control file named by FAKE_NVML_SCRIPT. The file is re-read whenever its
// inode, size or mtime changes (tests replace it atomically), so a test scripts a run by rewriting it.
// One setting a line; lines starting with '#' are comments:
//   driver <version>                 system driver version
//   init_error <code>                nvmlInit_v2 returns this code
//   gpus <n>                         number of boards (at most FAKE_MAX_GPUS)
//   hang <function> <ms>             that system-level call sleeps before answering
//   gpu <i> uuid <text>              gpu <i> name <text...>
//   gpu <i> energy_mj <n>            gpu <i> energy_supported <0|1>
//   gpu <i> power_mw <n>             gpu <i> lost <0|1>
//   gpu <i> power_limit_mw <n>       gpu <i> enforced_limit_mw <n>   (0: NOT_SUPPORTED)
//   gpu <i> mig <0|1>                gpu <i> mig_instance <uuid>     (repeatable)
//   gpu <i> process <pid> <bytes>    (repeatable; bytes -1: NVML_VALUE_NOT_AVAILABLE)
//   gpu <i> process_race <n>         after answering INSUFFICIENT_SIZE once, n more processes appear
//   gpu <i> hang <function> <ms>     that call on this board sleeps before answering
// fake_nvml_call_count(name) lets a test see how often a function was called.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "nvml-double.h"

#define FAKE_MAX_GPUS 64
#define FAKE_MAX_MIG 7
#define FAKE_MAX_PROCESSES 256
#define FAKE_MAX_HANGS 8
#define FAKE_TEXT 96

struct fake_hang {
  char function[FAKE_TEXT];
  long ms;
};

struct fake_process {
  unsigned int pid;
  unsigned long long usedBytes;
};

struct fake_gpu {
  char uuid[FAKE_TEXT];
  char name[FAKE_TEXT];
  unsigned long long energyMj;
  int energySupported;
  unsigned int powerMw;
  int lost;
  unsigned int powerLimitMw;
  unsigned int enforcedLimitMw;
  int mig;
  int migCount;
  char migUuid[FAKE_MAX_MIG][FAKE_TEXT];
  int processCount;
  struct fake_process processes[FAKE_MAX_PROCESSES];
  int processRace;
  int hangCount;
  struct fake_hang hangs[FAKE_MAX_HANGS];
};

struct fake_state {
  char driver[FAKE_TEXT];
  int initError;
  int gpuCount;
  int hangCount;
  struct fake_hang hangs[FAKE_MAX_HANGS];
  struct fake_gpu gpus[FAKE_MAX_GPUS];
};

// A handle is the address of one of these: slot 0 is the board, 1.. its MIG instances.
struct nvmlDevice_st {
  int gpu;
  int mig;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_state state;
static struct stat loaded;
static int initCount;
static struct nvmlDevice_st handles[FAKE_MAX_GPUS][1 + FAKE_MAX_MIG];

// Per-board flag: the board answered INSUFFICIENT_SIZE, so the scripted race applies to the next call.
static int raceArmed[FAKE_MAX_GPUS];

static const char *const counted[] = {
    "nvmlInit_v2", "nvmlShutdown", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2",
    "nvmlDeviceGetUUID", "nvmlDeviceGetName", "nvmlDeviceGetIndex", "nvmlSystemGetDriverVersion",
    "nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetPowerUsage", "nvmlDeviceGetPowerManagementLimit",
    "nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetMigMode", "nvmlDeviceGetMaxMigDeviceCount",
    "nvmlDeviceGetMigDeviceHandleByIndex", "nvmlDeviceGetComputeRunningProcesses_v3",
    "nvmlDeviceGetComputeRunningProcesses_v3:INSUFFICIENT_SIZE",
};
#define COUNTED (sizeof counted / sizeof counted[0])
static unsigned long callCounts[COUNTED];

static void count(const char *function) {
  for (size_t i = 0; i < COUNTED; i++) {
    if (strcmp(counted[i], function) == 0) {
      __atomic_fetch_add(&callCounts[i], 1, __ATOMIC_RELAXED);
      return;
    }
  }
}

unsigned long fake_nvml_call_count(const char *function) {
  for (size_t i = 0; i < COUNTED; i++) {
    if (strcmp(counted[i], function) == 0) return __atomic_load_n(&callCounts[i], __ATOMIC_RELAXED);
  }
  return 0;
}

static void copyText(char *to, const char *from) {
  snprintf(to, FAKE_TEXT, "%s", from);
}

static void defaults(void) {
  memset(&state, 0, sizeof state);
  copyText(state.driver, "550.54.15");
  for (int i = 0; i < FAKE_MAX_GPUS; i++) {
    struct fake_gpu *gpu = &state.gpus[i];
    snprintf(gpu->uuid, FAKE_TEXT, "GPU-00000000-0000-0000-0000-%012d", i);
    copyText(gpu->name, "NVIDIA H100 80GB HBM3");
    gpu->energySupported = 1;
    gpu->powerLimitMw = 700000;
    gpu->enforcedLimitMw = 700000;
  }
}

static void addHang(struct fake_hang *hangs, int *hangCount, const char *function, long ms) {
  if (*hangCount >= FAKE_MAX_HANGS) return;
  snprintf(hangs[*hangCount].function, sizeof hangs[0].function, "%s", function);
  hangs[*hangCount].ms = ms;
  (*hangCount)++;
}

static void parseGpuLine(struct fake_gpu *gpu, const char *key, const char *rest) {
  char word[FAKE_TEXT];
  long long a = 0, b = 0;
  if (strcmp(key, "uuid") == 0) sscanf(rest, "%95s", gpu->uuid);
  else if (strcmp(key, "name") == 0) copyText(gpu->name, rest);
  else if (strcmp(key, "energy_mj") == 0) gpu->energyMj = strtoull(rest, NULL, 10);
  else if (strcmp(key, "energy_supported") == 0) gpu->energySupported = atoi(rest);
  else if (strcmp(key, "power_mw") == 0) gpu->powerMw = (unsigned int)strtoul(rest, NULL, 10);
  else if (strcmp(key, "lost") == 0) gpu->lost = atoi(rest);
  else if (strcmp(key, "power_limit_mw") == 0) gpu->powerLimitMw = (unsigned int)strtoul(rest, NULL, 10);
  else if (strcmp(key, "enforced_limit_mw") == 0) gpu->enforcedLimitMw = (unsigned int)strtoul(rest, NULL, 10);
  else if (strcmp(key, "mig") == 0) gpu->mig = atoi(rest);
  else if (strcmp(key, "mig_instance") == 0 && gpu->migCount < FAKE_MAX_MIG) sscanf(rest, "%95s", gpu->migUuid[gpu->migCount++]);
  else if (strcmp(key, "process_race") == 0) gpu->processRace = atoi(rest);
  else if (strcmp(key, "process") == 0 && gpu->processCount < FAKE_MAX_PROCESSES && sscanf(rest, "%lld %lld", &a, &b) == 2) {
    gpu->processes[gpu->processCount].pid = (unsigned int)a;
    gpu->processes[gpu->processCount].usedBytes = b < 0 ? NVML_VALUE_NOT_AVAILABLE : (unsigned long long)b;
    gpu->processCount++;
  } else if (strcmp(key, "hang") == 0 && sscanf(rest, "%95s %lld", word, &a) == 2) addHang(gpu->hangs, &gpu->hangCount, word, (long)a);
}

static void parseLine(char *line) {
  line[strcspn(line, "\r\n")] = '\0';
  if (line[0] == '#') return;
  char key[32], rest[256] = "";
  int index = -1;
  if (sscanf(line, "gpu %d %31s %255[^\n]", &index, key, rest) >= 2) {
    if (index >= 0 && index < FAKE_MAX_GPUS) parseGpuLine(&state.gpus[index], key, rest);
    return;
  }
  char word[FAKE_TEXT];
  long ms = 0;
  if (sscanf(line, "%31s %255[^\n]", key, rest) < 1) return;
  if (strcmp(key, "driver") == 0) sscanf(rest, "%95s", state.driver);
  else if (strcmp(key, "init_error") == 0) state.initError = atoi(rest);
  else if (strcmp(key, "gpus") == 0) {
    state.gpuCount = atoi(rest);
    if (state.gpuCount > FAKE_MAX_GPUS) state.gpuCount = FAKE_MAX_GPUS;
  } else if (strcmp(key, "hang") == 0 && sscanf(rest, "%95s %ld", word, &ms) == 2) addHang(state.hangs, &state.hangCount, word, ms);
}

// Caller holds the lock. Keeps the previous state when the script cannot be read mid-replace.
static void reloadIfChanged(void) {
  const char *path = getenv("FAKE_NVML_SCRIPT");
  struct stat now;
  if (!path || stat(path, &now) != 0) return;
  if (now.st_ino == loaded.st_ino && now.st_size == loaded.st_size && now.st_mtim.tv_sec == loaded.st_mtim.tv_sec &&
      now.st_mtim.tv_nsec == loaded.st_mtim.tv_nsec)
    return;
  FILE *file = fopen(path, "r");
  if (!file) return;
  defaults();
  char line[512];
  while (fgets(line, sizeof line, file)) parseLine(line);
  fclose(file);
  loaded = now;
}

static long hangFor(const struct fake_hang *hangs, int hangCount, const char *function) {
  for (int i = 0; i < hangCount; i++) {
    if (strcmp(hangs[i].function, function) == 0) return hangs[i].ms;
  }
  return 0;
}

// Sleeps outside the lock, so other threads (a respawned worker) keep being answered meanwhile.
static void sleepMs(long ms) {
  if (ms <= 0) return;
  struct timespec delay = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&delay, &delay) == -1 && errno == EINTR) {
  }
}

// Common entry of every system-level call: count, reload, apply a scripted hang.
static nvmlReturn_t enterSystem(const char *function, int needsInit) {
  count(function);
  pthread_mutex_lock(&lock);
  reloadIfChanged();
  long ms = hangFor(state.hangs, state.hangCount, function);
  int initialised = initCount > 0;
  pthread_mutex_unlock(&lock);
  sleepMs(ms);
  return needsInit && !initialised ? NVML_ERROR_UNINITIALIZED : NVML_SUCCESS;
}

// Common entry of every device call: validates the handle, then answers from a copy of the board's state.
static nvmlReturn_t enterDevice(const char *function, nvmlDevice_t device, struct fake_gpu *gpu, int *mig) {
  count(function);
  pthread_mutex_lock(&lock);
  reloadIfChanged();
  nvmlReturn_t result = NVML_SUCCESS;
  long ms = 0;
  if (initCount == 0) result = NVML_ERROR_UNINITIALIZED;
  else if (device < &handles[0][0] || device > &handles[FAKE_MAX_GPUS - 1][FAKE_MAX_MIG] || device->gpu >= state.gpuCount)
    result = NVML_ERROR_INVALID_ARGUMENT;
  else {
    *gpu = state.gpus[device->gpu];
    *mig = device->mig;
    ms = hangFor(gpu->hangs, gpu->hangCount, function);
    if (gpu->lost) result = NVML_ERROR_GPU_IS_LOST;
  }
  pthread_mutex_unlock(&lock);
  sleepMs(ms);
  return result;
}

// Opens a device call: declares `gpu` and `mig` from enterDevice, or returns the error it answered.
#define ENTER_DEVICE(function, device)                                  \
  struct fake_gpu gpu;                                                  \
  int mig;                                                              \
  {                                                                     \
    nvmlReturn_t entered = enterDevice(function, device, &gpu, &mig);   \
    if (entered != NVML_SUCCESS) return entered;                        \
  }

static nvmlReturn_t copyOut(char *to, unsigned int length, const char *from) {
  if (!to) return NVML_ERROR_INVALID_ARGUMENT;
  if (strlen(from) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(to, from, strlen(from) + 1);
  return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Unknown Error";
  }
}

nvmlReturn_t nvmlInit_v2(void) {
  enterSystem("nvmlInit_v2", 0);
  pthread_mutex_lock(&lock);
  nvmlReturn_t result = (nvmlReturn_t)state.initError;
  if (result == NVML_SUCCESS) {
    initCount++;
    for (int g = 0; g < FAKE_MAX_GPUS; g++) {
      for (int m = 0; m <= FAKE_MAX_MIG; m++) handles[g][m] = (struct nvmlDevice_st){g, m};
    }
  }
  pthread_mutex_unlock(&lock);
  return result;
}

nvmlReturn_t nvmlShutdown(void) {
  nvmlReturn_t result = enterSystem("nvmlShutdown", 1);
  if (result != NVML_SUCCESS) return result;
  pthread_mutex_lock(&lock);
  initCount--;
  pthread_mutex_unlock(&lock);
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
  nvmlReturn_t result = enterSystem("nvmlSystemGetDriverVersion", 1);
  if (result != NVML_SUCCESS) return result;
  char copy[FAKE_TEXT];
  pthread_mutex_lock(&lock);
  copyText(copy, state.driver);
  pthread_mutex_unlock(&lock);
  return copyOut(version, length, copy);
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount) {
  nvmlReturn_t result = enterSystem("nvmlDeviceGetCount_v2", 1);
  if (result != NVML_SUCCESS) return result;
  if (!deviceCount) return NVML_ERROR_INVALID_ARGUMENT;
  pthread_mutex_lock(&lock);
  *deviceCount = (unsigned int)state.gpuCount;
  pthread_mutex_unlock(&lock);
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
  nvmlReturn_t result = enterSystem("nvmlDeviceGetHandleByIndex_v2", 1);
  if (result != NVML_SUCCESS) return result;
  if (!device) return NVML_ERROR_INVALID_ARGUMENT;
  pthread_mutex_lock(&lock);
  int count = state.gpuCount;
  pthread_mutex_unlock(&lock);
  if (index >= (unsigned int)count) return NVML_ERROR_INVALID_ARGUMENT;
  *device = &handles[index][0];
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
  ENTER_DEVICE("nvmlDeviceGetUUID", device);
  return copyOut(uuid, length, mig == 0 ? gpu.uuid : gpu.migUuid[mig - 1]);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
  ENTER_DEVICE("nvmlDeviceGetName", device);
  return copyOut(name, length, gpu.name);
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index) {
  ENTER_DEVICE("nvmlDeviceGetIndex", device);
  if (!index) return NVML_ERROR_INVALID_ARGUMENT;
  *index = (unsigned int)device->gpu;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy) {
  ENTER_DEVICE("nvmlDeviceGetTotalEnergyConsumption", device);
  if (!energy) return NVML_ERROR_INVALID_ARGUMENT;
  // Like the real driver, energy is a board-level counter: MIG instances do not have one.
  if (!gpu.energySupported || mig != 0) return NVML_ERROR_NOT_SUPPORTED;
  *energy = gpu.energyMj;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
  ENTER_DEVICE("nvmlDeviceGetPowerUsage", device);
  if (!power) return NVML_ERROR_INVALID_ARGUMENT;
  if (mig != 0) return NVML_ERROR_NOT_SUPPORTED;
  *power = gpu.powerMw;
  return NVML_SUCCESS;
}

static nvmlReturn_t limit(const char *function, nvmlDevice_t device, unsigned int *limitMw, int enforced) {
  ENTER_DEVICE(function, device);
  if (!limitMw) return NVML_ERROR_INVALID_ARGUMENT;
  unsigned int value = enforced ? gpu.enforcedLimitMw : gpu.powerLimitMw;
  if (value == 0 || mig != 0) return NVML_ERROR_NOT_SUPPORTED;
  *limitMw = value;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned int *limitMw) {
  return limit("nvmlDeviceGetPowerManagementLimit", device, limitMw, 0);
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limitMw) {
  return limit("nvmlDeviceGetEnforcedPowerLimit", device, limitMw, 1);
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode) {
  ENTER_DEVICE("nvmlDeviceGetMigMode", device);
  if (!currentMode || !pendingMode) return NVML_ERROR_INVALID_ARGUMENT;
  *currentMode = *pendingMode = gpu.mig ? NVML_DEVICE_MIG_ENABLE : NVML_DEVICE_MIG_DISABLE;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count) {
  ENTER_DEVICE("nvmlDeviceGetMaxMigDeviceCount", device);
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  *count = FAKE_MAX_MIG;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index, nvmlDevice_t *migDevice) {
  ENTER_DEVICE("nvmlDeviceGetMigDeviceHandleByIndex", device);
  if (!migDevice || index >= FAKE_MAX_MIG) return NVML_ERROR_INVALID_ARGUMENT;
  if (!gpu.mig) return NVML_ERROR_NOT_SUPPORTED;
  if ((int)index >= gpu.migCount) return NVML_ERROR_NOT_FOUND;
  *migDevice = &handles[device->gpu][index + 1];
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos) {
  ENTER_DEVICE("nvmlDeviceGetComputeRunningProcesses_v3", device);
  if (!infoCount) return NVML_ERROR_INVALID_ARGUMENT;
  int present = gpu.processCount;
  pthread_mutex_lock(&lock);
  if (raceArmed[device->gpu]) present += gpu.processRace;
  pthread_mutex_unlock(&lock);
  if (present > FAKE_MAX_PROCESSES) present = FAKE_MAX_PROCESSES;
  if (*infoCount < (unsigned int)present) {
    count("nvmlDeviceGetComputeRunningProcesses_v3:INSUFFICIENT_SIZE");
    pthread_mutex_lock(&lock);
    raceArmed[device->gpu] = 1;
    pthread_mutex_unlock(&lock);
    *infoCount = (unsigned int)present;
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  if (present > 0 && !infos) return NVML_ERROR_INVALID_ARGUMENT;
  for (int i = 0; i < present; i++) {
    // Processes added by the scripted race are synthesised after the listed ones.
    struct fake_process process = i < gpu.processCount ? gpu.processes[i]
                                                       : (struct fake_process){100000u + (unsigned int)i, 1u << 20};
    infos[i] = (nvmlProcessInfo_t){process.pid, process.usedBytes, 0xFFFFFFFFu, 0xFFFFFFFFu};
  }
  *infoCount = (unsigned int)present;
  return NVML_SUCCESS;
}
