"""A device on the official Python device SDK (Linkkit), upgraded by a job made with the
official OpenAPI SDK: register it, start it with its DeviceSecret, upload and create the
firmware, create a job, wait for SUCCEEDED.

Usage: linkkit_job.py ENDPOINT ACCESS_KEY_ID ACCESS_KEY_SECRET BROKER_HOST BROKER_PORT FIRMWARE
Prints JSON lines; exits non-zero when something is not as the platform would answer.
"""
import json
import os
import subprocess
import sys
import time

import requests
from alibabacloud_iot20180120 import models
from alibabacloud_iot20180120.client import Client
from alibabacloud_tea_openapi import models as open_api

endpoint, ak, secret, host, port, firmware = sys.argv[1:7]
c = Client(open_api.Config(access_key_id=ak, access_key_secret=secret, endpoint=endpoint,
                           protocol="http", region_id="cn-shanghai"))
device = c.register_device(models.RegisterDeviceRequest(product_key="a1Linkkit", device_name="linkkit-1")).body.data
here = os.path.dirname(os.path.abspath(__file__))
proc = subprocess.Popen([sys.executable, os.path.join(here, "linkkit_device.py"), host, port, "a1Linkkit",
                         "linkkit-1", device.device_secret, "1.0.0", "30"], stdout=subprocess.PIPE, text=True)


def detail():
    return c.query_device_detail(models.QueryDeviceDetailRequest(product_key="a1Linkkit", device_name="linkkit-1")).body.data


deadline = time.time() + 20
while detail().firmware_version != "1.0.0":
    if time.time() > deadline:
        raise SystemExit("the Linkkit device did not report its version")
    time.sleep(0.2)
print(json.dumps({"step": "online", "status": detail().status, "version": detail().firmware_version}), flush=True)
upload = c.generate_otaupload_url(models.GenerateOTAUploadURLRequest(file_suffix="bin")).body.data
requests.post(upload.host, data={"key": upload.key, "policy": upload.policy, "OSSAccessKeyId": upload.ossaccess_key_id,
                                 "Signature": upload.signature}, files={"file": ("fw.bin", open(firmware, "rb").read())})
fw = c.create_otafirmware(models.CreateOTAFirmwareRequest(product_key="a1Linkkit", firmware_name="fw", dest_version="2.0.0",
                                                          firmware_url=upload.firmware_url, sign_method="MD5")).body.data.firmware_id
job = c.create_otastatic_upgrade_job(models.CreateOTAStaticUpgradeJobRequest(
    product_key="a1Linkkit", firmware_id=fw, target_selection="SPECIFIC", target_device_name=["linkkit-1"])).body.data.job_id
deadline = time.time() + 30
while True:
    task = c.list_otatask_by_job(models.ListOTATaskByJobRequest(job_id=job, current_page=1, page_size=10)).body.data.simple_otatask_info[0]
    if task.task_status in ("SUCCEEDED", "FAILED") or time.time() > deadline:
        break
    time.sleep(0.2)
print(json.dumps({"step": "job", "task": task.task_status, "version": detail().firmware_version}), flush=True)
proc.kill()
print(json.dumps({"step": "device", "log": proc.stdout.read().strip().split("\n")}), flush=True)
