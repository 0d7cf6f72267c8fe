// These tests drive Linux tools (blkid, mkfs, findmnt, mount) and Unix file modes.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
