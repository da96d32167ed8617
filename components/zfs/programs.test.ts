import { pinPrograms } from "../../test/harness/programs";
import { stepProgram } from "../remote/script";
import { ZFS_PROFILES } from "../spec/load";
import { zfsTuningScript } from "./zfs";

pinPrograms({
  "zfs-tuning-demo": stepProgram("nuc/zfs-tuning", zfsTuningScript("nuc", "tank/incus", ZFS_PROFILES.demo)),
  "zfs-tuning-durable": stepProgram("nuc/zfs-tuning", zfsTuningScript("nuc", "tank/incus", ZFS_PROFILES.durable)),
});
