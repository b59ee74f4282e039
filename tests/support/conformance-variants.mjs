// The conformance suite's cases, and the variants of the independent device
// (tests/support/ota-device.mjs) with the cases each must fail: everything else passes, or is
// not applicable (`na`: the device without MQTT download support skips the MQTT cases; a device
// that takes every notice at once ignores none, so `ignored_notice` does not apply). Used by
// the tests of `otalab conformance` and of the npm ConformanceSuite, which must agree.
export const MQTT = ['mqtt', 'mqtt_bad_crc', 'mqtt_wrong_offset', 'mqtt_drop_reply', 'mqtt_error_reply'];
export const ALL = ['md5', 'sha256', 'bad_digest', 'wrong_size', 'expired_url', 'missing_url', 'flaky_url', 'pull', 'repeat', 'second_module', ...MQTT, 'retry', 'ignored_notice', 'report_after_reboot'];
export const UPGRADES = ['md5', 'sha256', 'flaky_url', 'pull', 'repeat', 'second_module', 'retry', 'ignored_notice', 'report_after_reboot'];

// Taking the first notice at once: `ignored_notice` is not applicable, unless the upgrade fails.
const NA = [...MQTT, 'ignored_notice'];

export const variants = [
  { name: 'correct', defects: [], fails: [], na: NA },
  { name: 'ignoreDigest', defects: ['ignoreDigest'], fails: ['bad_digest', 'retry'], na: NA },
  { name: 'noResume', defects: ['noResume'], fails: ['flaky_url'], na: NA },
  { name: 'rebootOld', defects: ['rebootOld'], fails: UPGRADES, na: MQTT },
  { name: 'ignorePulls', defects: ['ignorePulls'], fails: ['pull'], na: NA },
  { name: 'downloadTwice', defects: ['downloadTwice'], fails: ['repeat'], na: NA },
  // Reports its version 3 s after reconnecting from an upgrade's reboot (the platform: 2 s).
  { name: 'lateReport', defects: ['lateReport'], fails: ['report_after_reboot'], na: NA },
  // After bad_digest fails, every later upgrade hashes on from its bytes.
  { name: 'keepDigest', defects: ['keepDigest'], fails: ['flaky_url', 'pull', 'repeat', 'second_module', 'retry', 'ignored_notice', 'report_after_reboot'], na: MQTT },
  // Link SDK C as it ships: no SUBSCRIBE, core_http's rules, MQTT download: every case applies
  // but `ignored_notice` (it takes every notice at once).
  { name: 'stock', stock: true, defects: [], fails: [], na: ['ignored_notice'] },
];
