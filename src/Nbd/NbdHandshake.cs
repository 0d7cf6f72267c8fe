using IscsiUp.Io;
using System.Buffers.Binary;
using System.Text;

namespace IscsiUp.Nbd;

/// <summary>
/// Server side of the fixed-newstyle handshake: greeting, client flags, then option haggling until the client
/// picks an export (NBD_OPT_EXPORT_NAME or NBD_OPT_GO), aborts, or breaks the protocol. Supported options:
/// EXPORT_NAME, ABORT, LIST, INFO, GO (NBD_INFO_EXPORT/NAME/DESCRIPTION/BLOCK_SIZE), STRUCTURED_REPLY,
/// LIST_META_CONTEXT and SET_META_CONTEXT (no contexts are offered); everything else gets NBD_REP_ERR_UNSUP.
/// </summary>
internal sealed class NbdHandshake
{
    /// <summary>Option data accepted into memory; longer options are skipped and refused.</summary>
    internal const int MaxOptionLength = 16 * 1024;
    /// <summary>Option data longer than this is treated as an attack: the connection is dropped.</summary>
    internal const int MaxSkippableOptionLength = 1024 * 1024;
    /// <summary>Options one connection may send before it is considered abusive.</summary>
    internal const int MaxOptions = 1024;

    private readonly Stream _input;
    private readonly Stream _output;
    private readonly IReadOnlyList<NbdExport> _exports;
    private readonly Action<string>? _log;
    private readonly string _peer;
    private bool _structured;
    private bool _noZeroes;

    public NbdHandshake(Stream input, Stream output, IReadOnlyList<NbdExport> exports, Action<string>? log, string peer)
    {
        _input = input;
        _output = output;
        _exports = exports;
        _log = log;
        _peer = peer;
    }

    /// <summary>Runs the handshake; null when the session ends without entering transmission (the caller
    /// closes the connection). I/O failures propagate.</summary>
    public async Task<NbdHandshakeResult?> RunAsync(CancellationToken ct)
    {
        byte[] greeting = new byte[18];
        BinaryPrimitives.WriteUInt64BigEndian(greeting, NbdConstants.NbdMagic);
        BinaryPrimitives.WriteUInt64BigEndian(greeting.AsSpan(8), NbdConstants.IHaveOpt);
        BinaryPrimitives.WriteUInt16BigEndian(greeting.AsSpan(16), NbdConstants.FlagFixedNewstyle | NbdConstants.FlagNoZeroes);
        await _output.WriteAsync(greeting, ct).ConfigureAwait(false);

        byte[] head = new byte[16];
        await _input.ReadExactlyAsync(head.AsMemory(0, 4), ct).ConfigureAwait(false);
        uint clientFlags = BinaryPrimitives.ReadUInt32BigEndian(head);
        if ((clientFlags & ~(NbdConstants.ClientFlagFixedNewstyle | NbdConstants.ClientFlagNoZeroes)) != 0)
        {
            Log($"unknown client flags 0x{clientFlags:x8}; closing");
            return null;
        }
        _noZeroes = (clientFlags & NbdConstants.ClientFlagNoZeroes) != 0;

        for (int count = 0; ; count++)
        {
            if (count >= MaxOptions)
            {
                Log($"more than {MaxOptions} options; closing");
                return null;
            }
            await _input.ReadExactlyAsync(head, ct).ConfigureAwait(false);
            ulong magic = BinaryPrimitives.ReadUInt64BigEndian(head);
            uint option = BinaryPrimitives.ReadUInt32BigEndian(head.AsSpan(8));
            uint length = BinaryPrimitives.ReadUInt32BigEndian(head.AsSpan(12));
            if (magic != NbdConstants.IHaveOpt)
            {
                Log($"bad option magic 0x{magic:x16}; closing");
                return null;
            }
            if (length > MaxOptionLength)
            {
                if (option == NbdConstants.OptExportName || length > MaxSkippableOptionLength)
                {
                    Log($"option {OptionName(option)} with {length} bytes of data is too long; closing");
                    return null;
                }
                await SkipAsync(length, ct).ConfigureAwait(false);
                await ReplyAsync(option, NbdConstants.RepErrTooBig, Encoding.UTF8.GetBytes("option data too long"), ct).ConfigureAwait(false);
                continue;
            }
            byte[] data = length == 0 ? [] : new byte[length];
            if (length > 0)
                await _input.ReadExactlyAsync(data, ct).ConfigureAwait(false);

            switch (option)
            {
                case NbdConstants.OptExportName:
                {
                    string name = Encoding.UTF8.GetString(data);
                    var export = NbdExport.Resolve(_exports, name);
                    if (export is null)
                    {
                        Log($"unknown export '{Printable(name)}' requested with NBD_OPT_EXPORT_NAME; closing");
                        return null;
                    }
                    byte[] reply = new byte[_noZeroes ? 10 : 134];
                    BinaryPrimitives.WriteUInt64BigEndian(reply, export.Size);
                    BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(8), export.TransmissionFlags);
                    await _output.WriteAsync(reply, ct).ConfigureAwait(false);
                    return new NbdHandshakeResult(export, _structured);
                }
                case NbdConstants.OptAbort:
                    try
                    {
                        await ReplyAsync(option, NbdConstants.RepAck, default, ct).ConfigureAwait(false);
                    }
                    catch (IOException)
                    {
                        // The client may close without waiting for the acknowledgement.
                    }
                    return null;
                case NbdConstants.OptList:
                    if (length != 0)
                    {
                        await ReplyAsync(option, NbdConstants.RepErrInvalid, Encoding.UTF8.GetBytes("NBD_OPT_LIST takes no data"), ct).ConfigureAwait(false);
                        break;
                    }
                    foreach (var e in _exports)
                        await ReplyAsync(option, NbdConstants.RepServer, ServerEntry(e), ct).ConfigureAwait(false);
                    await ReplyAsync(option, NbdConstants.RepAck, default, ct).ConfigureAwait(false);
                    break;
                case NbdConstants.OptInfo:
                case NbdConstants.OptGo:
                {
                    var export = await InfoAsync(option, data, ct).ConfigureAwait(false);
                    if (export is not null && option == NbdConstants.OptGo)
                        return new NbdHandshakeResult(export, _structured);
                    break;
                }
                case NbdConstants.OptStructuredReply:
                    if (length != 0)
                    {
                        await ReplyAsync(option, NbdConstants.RepErrInvalid, Encoding.UTF8.GetBytes("NBD_OPT_STRUCTURED_REPLY takes no data"), ct).ConfigureAwait(false);
                        break;
                    }
                    _structured = true;
                    await ReplyAsync(option, NbdConstants.RepAck, default, ct).ConfigureAwait(false);
                    break;
                case NbdConstants.OptListMetaContext:
                case NbdConstants.OptSetMetaContext:
                    if (!_structured)
                    {
                        await ReplyAsync(option, NbdConstants.RepErrInvalid, Encoding.UTF8.GetBytes("structured replies must be negotiated first"), ct).ConfigureAwait(false);
                        break;
                    }
                    if (!IsValidMetaContextRequest(data))
                    {
                        await ReplyAsync(option, NbdConstants.RepErrInvalid, Encoding.UTF8.GetBytes("malformed meta context request"), ct).ConfigureAwait(false);
                        break;
                    }
                    // No metadata context (not even base:allocation) is offered: an empty list is the answer.
                    await ReplyAsync(option, NbdConstants.RepAck, default, ct).ConfigureAwait(false);
                    break;
                default:
                    await ReplyAsync(option, NbdConstants.RepErrUnsup, Encoding.UTF8.GetBytes($"option {OptionName(option)} is not supported"), ct).ConfigureAwait(false);
                    break;
            }
        }
    }

    /// <summary>Answers NBD_OPT_INFO / NBD_OPT_GO; returns the export when the reply ended in NBD_REP_ACK.</summary>
    private async Task<NbdExport?> InfoAsync(uint option, byte[] data, CancellationToken ct)
    {
        // name length (4), name, number of requests (2), requests (2 each).
        if (data.Length < 6)
        {
            await ReplyAsync(option, NbdConstants.RepErrInvalid, Encoding.UTF8.GetBytes("option data too short"), ct).ConfigureAwait(false);
            return null;
        }
        uint nameLen = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (nameLen > (uint)data.Length - 6)
        {
            await ReplyAsync(option, NbdConstants.RepErrInvalid, Encoding.UTF8.GetBytes("export name length exceeds option data"), ct).ConfigureAwait(false);
            return null;
        }
        string name = Encoding.UTF8.GetString(data, 4, (int)nameLen);
        int pos = 4 + (int)nameLen;
        int requests = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(pos));
        pos += 2;
        if (data.Length - pos != requests * 2)
        {
            await ReplyAsync(option, NbdConstants.RepErrInvalid, Encoding.UTF8.GetBytes("information request list does not match option length"), ct).ConfigureAwait(false);
            return null;
        }
        bool wantName = false, wantDescription = false;
        for (int i = 0; i < requests; i++)
        {
            ushort requested = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(pos + 2 * i));
            wantName |= requested == NbdConstants.InfoName;
            wantDescription |= requested == NbdConstants.InfoDescription;
        }

        var export = NbdExport.Resolve(_exports, name);
        if (export is null)
        {
            Log($"unknown export '{Printable(name)}' requested with {OptionName(option)}");
            await ReplyAsync(option, NbdConstants.RepErrUnknown, Encoding.UTF8.GetBytes($"export '{Printable(name)}' not found"), ct).ConfigureAwait(false);
            return null;
        }

        byte[] info = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(info, NbdConstants.InfoExport);
        BinaryPrimitives.WriteUInt64BigEndian(info.AsSpan(2), export.Size);
        BinaryPrimitives.WriteUInt16BigEndian(info.AsSpan(10), export.TransmissionFlags);
        await ReplyAsync(option, NbdConstants.RepInfo, info, ct).ConfigureAwait(false);

        if (wantName)
            await ReplyAsync(option, NbdConstants.RepInfo, InfoString(NbdConstants.InfoName, export.Name), ct).ConfigureAwait(false);
        if (wantDescription && export.Description is { } description)
            await ReplyAsync(option, NbdConstants.RepInfo, InfoString(NbdConstants.InfoDescription, description), ct).ConfigureAwait(false);

        // Always sent: clients that did not ask may ignore it; we still serve unaligned requests.
        byte[] sizes = new byte[14];
        BinaryPrimitives.WriteUInt16BigEndian(sizes, NbdConstants.InfoBlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(sizes.AsSpan(2), export.MinimumBlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(sizes.AsSpan(6), export.PreferredBlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(sizes.AsSpan(10), export.MaximumBlockSize);
        await ReplyAsync(option, NbdConstants.RepInfo, sizes, ct).ConfigureAwait(false);

        await ReplyAsync(option, NbdConstants.RepAck, default, ct).ConfigureAwait(false);
        return export;
    }

    /// <summary>Checks the framing of a LIST/SET_META_CONTEXT request: name, count, queries.</summary>
    private static bool IsValidMetaContextRequest(ReadOnlySpan<byte> data)
    {
        if (data.Length < 4)
            return false;
        uint nameLen = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (nameLen > (uint)data.Length - 4 || nameLen > NbdConstants.MaxStringLength)
            return false;
        data = data[(4 + (int)nameLen)..];
        if (data.Length < 4)
            return false;
        uint queries = BinaryPrimitives.ReadUInt32BigEndian(data);
        data = data[4..];
        for (uint i = 0; i < queries; i++)
        {
            if (data.Length < 4)
                return false;
            uint qLen = BinaryPrimitives.ReadUInt32BigEndian(data);
            if (qLen > (uint)data.Length - 4 || qLen > NbdConstants.MaxStringLength)
                return false;
            data = data[(4 + (int)qLen)..];
        }
        return data.IsEmpty;
    }

    private static byte[] ServerEntry(NbdExport e)
    {
        int nameLen = Encoding.UTF8.GetByteCount(e.Name);
        int descLen = e.Description is null ? 0 : Encoding.UTF8.GetByteCount(e.Description);
        byte[] entry = new byte[4 + nameLen + descLen];
        BinaryPrimitives.WriteUInt32BigEndian(entry, (uint)nameLen);
        Encoding.UTF8.GetBytes(e.Name, entry.AsSpan(4));
        if (e.Description is not null)
            Encoding.UTF8.GetBytes(e.Description, entry.AsSpan(4 + nameLen));
        return entry;
    }

    private static byte[] InfoString(ushort type, string value)
    {
        byte[] b = new byte[2 + Encoding.UTF8.GetByteCount(value)];
        BinaryPrimitives.WriteUInt16BigEndian(b, type);
        Encoding.UTF8.GetBytes(value, b.AsSpan(2));
        return b;
    }

    private async Task ReplyAsync(uint option, uint type, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        byte[] msg = new byte[20 + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(msg, NbdConstants.OptionReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(msg.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(msg.AsSpan(12), type);
        BinaryPrimitives.WriteUInt32BigEndian(msg.AsSpan(16), (uint)data.Length);
        data.Span.CopyTo(msg.AsSpan(20));
        await _output.WriteAsync(msg, ct).ConfigureAwait(false);
    }

    private async Task SkipAsync(uint length, CancellationToken ct)
    {
        byte[] scratch = new byte[Math.Min(length, 16 * 1024)];
        while (length > 0)
        {
            int n = (int)Math.Min(length, (uint)scratch.Length);
            await _input.ReadExactlyAsync(scratch.AsMemory(0, n), ct).ConfigureAwait(false);
            length -= (uint)n;
        }
    }

    internal static string OptionName(uint option) => option switch
    {
        NbdConstants.OptExportName => "NBD_OPT_EXPORT_NAME",
        NbdConstants.OptAbort => "NBD_OPT_ABORT",
        NbdConstants.OptList => "NBD_OPT_LIST",
        NbdConstants.OptStartTls => "NBD_OPT_STARTTLS",
        NbdConstants.OptInfo => "NBD_OPT_INFO",
        NbdConstants.OptGo => "NBD_OPT_GO",
        NbdConstants.OptStructuredReply => "NBD_OPT_STRUCTURED_REPLY",
        NbdConstants.OptListMetaContext => "NBD_OPT_LIST_META_CONTEXT",
        NbdConstants.OptSetMetaContext => "NBD_OPT_SET_META_CONTEXT",
        NbdConstants.OptExtendedHeaders => "NBD_OPT_EXTENDED_HEADERS",
        _ => $"option {option}",
    };

    /// <summary>Export names come from the network: keep log lines short and free of control characters.</summary>
    private static string Printable(string s) => PeerText.Escape(s, 64);

    private void Log(string line) => _log?.Invoke($"nbd [{_peer}]: {line}");
}
