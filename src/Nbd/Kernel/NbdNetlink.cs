namespace IscsiUp.Nbd.Kernel;

/// <summary>The kernel nbd driver's generic netlink interface (include/uapi/linux/nbd-netlink.h), version 1.</summary>
public static class NbdNetlink
{
    public const string Family = "nbd";
    public const byte Version = 1;

    public const byte CmdConnect = 1, CmdDisconnect = 2, CmdReconfigure = 3, CmdStatus = 5;

    public const ushort AttrIndex = 1, AttrSizeBytes = 2, AttrBlockSizeBytes = 3, AttrTimeout = 4, AttrServerFlags = 5,
        AttrClientFlags = 6, AttrSockets = 7, AttrDeadConnTimeout = 8, AttrDeviceList = 9, AttrBackendIdentifier = 10;

    public const ushort SockItem = 1, SockFd = 1;

    public const ulong ClientFlagDestroyOnDisconnect = 1 << 0;
    public const ulong ClientFlagDisconnectOnClose = 1 << 1;
}
