"""A device running the official Python device SDK (aliyun-iot-linkkit 1.2.13 on paho-mqtt
1.6.1), as its documentation writes one: it logs in with its DeviceSecret, reports its version,
and on a notice downloads the file with the SDK's own download_ota_firmware (which checks the
digest), "flashes" it and reports the new version. It subscribes to its notice topic itself
(the platform's automatic subscription is the sandbox front's job, not the test broker's).

Usage: linkkit_device.py HOST PORT PRODUCT_KEY DEVICE_NAME DEVICE_SECRET VERSION SECONDS
Prints one line per event; exits 0 after SECONDS.
"""
import os
import sys
import tempfile
import time

from linkkit import linkkit

host, port, pk, dn, secret, version, seconds = sys.argv[1:8]
state = {"version": version}
lk = linkkit.LinkKit(host_name=host, product_key=pk, device_name=dn, device_secret=secret)
lk.config_mqtt(port=int(port), secure="", endpoint=host)


def on_connect(session_flag, rc, userdata):
    lk.subscribe_topic(f"/ota/device/upgrade/{pk}/{dn}", 1)
    lk.ota_report_version("default", state["version"])
    print(f"connected rc={rc}, reported {state['version']}", flush=True)


def on_ota(kind, new_version, size, url, sign_method, sign, module, extra):
    print(f"notice {new_version} {sign_method} {url}", flush=True)
    path = os.path.join(tempfile.mkdtemp(), "firmware.bin")
    rc = lk.download_ota_firmware(url, path, sign_method, sign)
    if rc != linkkit.LinkKit.ErrorCode.SUCCESS:
        print(f"download failed: {rc}", flush=True)
        return
    state["version"] = new_version
    lk.ota_report_version("default", new_version)
    print(f"upgraded to {new_version} ({os.path.getsize(path)} bytes)", flush=True)


lk.on_connect = on_connect
lk.on_ota_message_arrived = on_ota
lk.connect_async()
time.sleep(float(seconds))
lk.disconnect()
