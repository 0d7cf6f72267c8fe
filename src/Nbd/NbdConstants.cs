namespace IscsiUp.Nbd;

/// <summary>
/// Wire constants of the NBD protocol (NetworkBlockDevice proto.md): magics, handshake and transmission
/// flags, option and reply codes, commands, command flags, structured reply chunk types and error numbers.
/// All multi-byte fields travel in network byte order.
/// </summary>
public static class NbdConstants
{
    // Magics.
    /// <summary>"NBDMAGIC": first 8 bytes the server sends.</summary>
    public const ulong NbdMagic = 0x4e42444d41474943UL;
    /// <summary>"IHAVEOPT": newstyle magic, also the prefix of every client option.</summary>
    public const ulong IHaveOpt = 0x49484156454F5054UL;
    /// <summary>Prefix of every fixed-newstyle option reply.</summary>
    public const ulong OptionReplyMagic = 0x0003e889045565a9UL;
    public const uint RequestMagic = 0x25609513;
    public const uint SimpleReplyMagic = 0x67446698;
    public const uint StructuredReplyMagic = 0x668e33ef;

    // Handshake flags (server, 16 bits).
    public const ushort FlagFixedNewstyle = 1 << 0;
    public const ushort FlagNoZeroes = 1 << 1;

    // Client flags (32 bits).
    public const uint ClientFlagFixedNewstyle = 1 << 0;
    public const uint ClientFlagNoZeroes = 1 << 1;

    // Transmission flags (16 bits).
    public const ushort FlagHasFlags = 1 << 0;
    public const ushort FlagReadOnly = 1 << 1;
    public const ushort FlagSendFlush = 1 << 2;
    public const ushort FlagSendFua = 1 << 3;
    public const ushort FlagRotational = 1 << 4;
    public const ushort FlagSendTrim = 1 << 5;
    public const ushort FlagSendWriteZeroes = 1 << 6;
    public const ushort FlagSendDf = 1 << 7;
    public const ushort FlagCanMultiConn = 1 << 8;
    public const ushort FlagSendResize = 1 << 9;
    public const ushort FlagSendCache = 1 << 10;
    public const ushort FlagSendFastZero = 1 << 11;

    // Options.
    public const uint OptExportName = 1;
    public const uint OptAbort = 2;
    public const uint OptList = 3;
    public const uint OptPeekExport = 4;
    public const uint OptStartTls = 5;
    public const uint OptInfo = 6;
    public const uint OptGo = 7;
    public const uint OptStructuredReply = 8;
    public const uint OptListMetaContext = 9;
    public const uint OptSetMetaContext = 10;
    public const uint OptExtendedHeaders = 11;

    // Option reply types.
    public const uint RepAck = 1;
    public const uint RepServer = 2;
    public const uint RepInfo = 3;
    public const uint RepMetaContext = 4;
    public const uint RepErrUnsup = 0x80000001;
    public const uint RepErrPolicy = 0x80000002;
    public const uint RepErrInvalid = 0x80000003;
    public const uint RepErrPlatform = 0x80000004;
    public const uint RepErrTlsReqd = 0x80000005;
    public const uint RepErrUnknown = 0x80000006;
    public const uint RepErrShutdown = 0x80000007;
    public const uint RepErrBlockSizeReqd = 0x80000008;
    public const uint RepErrTooBig = 0x80000009;

    // NBD_INFO types (NBD_OPT_INFO / NBD_OPT_GO).
    public const ushort InfoExport = 0;
    public const ushort InfoName = 1;
    public const ushort InfoDescription = 2;
    public const ushort InfoBlockSize = 3;

    // Commands.
    public const ushort CmdRead = 0;
    public const ushort CmdWrite = 1;
    public const ushort CmdDisc = 2;
    public const ushort CmdFlush = 3;
    public const ushort CmdTrim = 4;
    public const ushort CmdCache = 5;
    public const ushort CmdWriteZeroes = 6;
    public const ushort CmdBlockStatus = 7;

    // Command flags.
    public const ushort CmdFlagFua = 1 << 0;
    public const ushort CmdFlagNoHole = 1 << 1;
    public const ushort CmdFlagDf = 1 << 2;
    public const ushort CmdFlagReqOne = 1 << 3;
    public const ushort CmdFlagFastZero = 1 << 4;

    // Structured replies.
    public const ushort ReplyFlagDone = 1 << 0;
    public const ushort ReplyTypeNone = 0;
    public const ushort ReplyTypeOffsetData = 1;
    public const ushort ReplyTypeOffsetHole = 2;
    public const ushort ReplyTypeBlockStatus = 5;
    public const ushort ReplyTypeError = 0x8001;
    public const ushort ReplyTypeErrorOffset = 0x8002;

    // Error numbers carried in replies.
    public const uint EPerm = 1;
    public const uint EIo = 5;
    public const uint ENoMem = 12;
    public const uint EInval = 22;
    public const uint ENoSpc = 28;
    public const uint EOverflow = 75;
    public const uint ENotSup = 95;
    public const uint EShutdown = 108;

    // Sizes.
    /// <summary>Length of a transmission request header.</summary>
    public const int RequestHeaderLength = 28;
    public const int SimpleReplyHeaderLength = 16;
    public const int StructuredReplyHeaderLength = 20;
    /// <summary>Longest string (export name, description, message) the protocol allows.</summary>
    public const int MaxStringLength = 4096;
    /// <summary>Largest READ/WRITE payload this server accepts (the protocol's interoperable maximum, 32 MiB).</summary>
    public const int MaxPayloadLength = 32 * 1024 * 1024;
}
