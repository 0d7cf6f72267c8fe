// iscsi-up drives Linux interfaces (nbd, netlink, signals, mount): it runs on Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
