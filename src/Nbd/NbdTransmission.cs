using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using IscsiUp.Io;

namespace IscsiUp.Nbd;

/// <summary>
/// The transmission phase of one NBD connection: a single loop reads requests (and WRITE payloads) in order
/// and hands each to its own handler; handlers run concurrently against the backend (bounded by
/// <see cref="NbdTransmissionOptions"/>) and send their replies, possibly out of order, through a shared
/// write lock. Cookies are echoed untouched. A malformed request, a send failure or the client going away
/// ends only this connection.
/// </summary>
public sealed class NbdTransmission
{
    private readonly Stream _input;
    private readonly NbdReplyWriter _writer;
    private readonly NbdExport _export;
    private readonly Action<string>? _log;
    private readonly string _peer;
    private readonly NbdRequestLimiter _limiter;
    private readonly NbdMemoryBudget _budget;
    private readonly NbdBufferPool _buffers;
    private readonly TimeSpan _replyStallTimeout;
    private string? _stalled;
    private readonly SendSchedule _schedule;
    private CancellationTokenSource? _cts;
    private int _failed;

    /// <param name="input">Request stream (should be buffered; only this loop reads it), over a
    /// <see cref="PushBeforeWaitingReadStream"/> of <paramref name="schedule"/>.</param>
    /// <param name="output">Reply stream (written only under the reply lock).</param>
    /// <param name="schedule">Holds the iSCSI sends (and replies) of requests read in one go until the loop would wait.</param>
    internal NbdTransmission(Stream input, Stream output, SendSchedule schedule, NbdExport export, bool structuredReplies,
        NbdTransmissionOptions options, Action<string>? log, string peer)
    {
        _input = input;
        _schedule = schedule;
        _writer = new NbdReplyWriter(output, structuredReplies, schedule, e => ReplyFailed("sending replies", e));
        _export = export;
        _log = log;
        _peer = peer;
        _limiter = new NbdRequestLimiter(Math.Max(1, options.MaxRequestsInFlight), Math.Max(1, options.MaxBytesInFlight));
        _budget = options.MemoryBudget;
        _buffers = options.Buffers;
        _replyStallTimeout = options.ReplyStallTimeout;
    }

    /// <summary>
    /// Serves the transmission phase only, on a socket that skipped the handshake (the kernel NBD client is
    /// handed such a socket). Simple replies only. Returns when the client disconnects (NBD_CMD_DISC or close),
    /// on a protocol error, or when <paramref name="ct"/> is cancelled; the socket is closed on return.
    /// <paramref name="drain"/> stops reading new requests but lets those already read finish and be answered
    /// (a daemon handing its kernel device to its successor). Sends follow <paramref name="schedule"/>, the
    /// session's (null: one of this connection's own).
    /// </summary>
    public static async Task ServeAsync(Socket socket, NbdExport export, NbdTransmissionOptions? options, Action<string>? log, CancellationToken ct,
        CancellationToken drain = default, SendSchedule? schedule = null)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(export);
        options ??= NbdTransmissionOptions.Default;
        string peer = DescribePeer(socket);
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        schedule ??= new SendSchedule();
        var input = schedule.BufferedReader(stream, options.ReceiveBufferSize);
        var t = new NbdTransmission(input, stream, schedule, export, structuredReplies: false, options, log, peer);
        await t.RunAsync(ct, drain).ConfigureAwait(false);
    }

    private static long s_unnamedPeers;

    /// <summary>A short label for log lines: the remote address for TCP, a sequence number for unix sockets.</summary>
    internal static string DescribePeer(Socket socket)
    {
        try
        {
            if (socket.RemoteEndPoint is System.Net.IPEndPoint ip)
                return ip.ToString();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        return $"unix#{Interlocked.Increment(ref s_unnamedPeers)}";
    }

    /// <summary>Runs the request loop until the connection ends; never throws for client misbehaviour.</summary>
    internal async Task RunAsync(CancellationToken ct, CancellationToken drain = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _cts = cts;
        // Reads stop on either; requests already read are cancelled only by ct (or a failed connection).
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(cts.Token, drain);
        var token = reading.Token;
        byte[] header = new byte[NbdConstants.RequestHeaderLength];
        bool graceful = false;
        string reason = "connection ended";
        using var stallCheck = StartStallCheck();
        try
        {
            while (true)
            {
                int got = await _input.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, token).ConfigureAwait(false);
                if (got == 0)
                {
                    reason = "client closed the connection";
                    break;
                }
                if (got < header.Length)
                {
                    reason = $"client closed the connection inside a request header ({got} of {header.Length} bytes)";
                    break;
                }
                if (!NbdRequest.TryParse(header, out var req))
                {
                    reason = $"malformed request: bad magic 0x{BinaryPrimitives.ReadUInt32BigEndian(header):x8}; closing";
                    break;
                }
                if (req.Type == NbdConstants.CmdDisc)
                {
                    graceful = true;
                    reason = "client sent NBD_CMD_DISC";
                    break;
                }
                if (req.Type == NbdConstants.CmdWrite)
                {
                    if (req.Length > NbdConstants.MaxPayloadLength)
                    {
                        // The payload cannot be skipped cheaply: answer, then hard disconnect.
                        reason = $"WRITE of {req.Length} bytes exceeds the {NbdConstants.MaxPayloadLength}-byte limit; closing";
                        await _writer.SendErrorAsync(req.Cookie, NbdConstants.EInval, "write too large", token).ConfigureAwait(false);
                        break;
                    }
                    int len = (int)req.Length;
                    await AcquireAsync(len, token).ConfigureAwait(false);
                    byte[]? payload = null;
                    try
                    {
                        if (len > 0)
                        {
                            payload = _buffers.Rent(len);
                            await _input.ReadExactlyAsync(payload.AsMemory(0, len), token).ConfigureAwait(false);
                        }
                    }
                    catch
                    {
                        if (payload is not null)
                            _buffers.Return(payload);
                        Release(len);
                        throw;
                    }
                    Dispatch(req, payload, len);
                }
                else
                {
                    long budget = req.Type == NbdConstants.CmdRead && req.Length <= NbdConstants.MaxPayloadLength ? req.Length : 0;
                    await AcquireAsync(budget, token).ConfigureAwait(false);
                    Dispatch(req, null, budget);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            graceful = drain.IsCancellationRequested && !cts.IsCancellationRequested;
            reason = graceful ? "drained: no new requests taken, those read are answered"
                : ct.IsCancellationRequested ? "server stopping" : "connection aborted after a failed reply";
        }
        catch (EndOfStreamException)
        {
            reason = "client closed the connection inside a WRITE payload";
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            reason = $"connection error: {e.Message}";
        }
        finally
        {
            // A client that went away gets its in-flight requests cancelled; NBD_CMD_DISC lets them finish.
            if (!graceful)
                await cts.CancelAsync().ConfigureAwait(false);
            _schedule.Push();
            await _limiter.WhenIdleAsync().ConfigureAwait(false);
            Log(Volatile.Read(ref _stalled) ?? reason);
        }
    }

    private Timer? StartStallCheck()
    {
        if (_replyStallTimeout == Timeout.InfiniteTimeSpan || _replyStallTimeout <= TimeSpan.Zero)
            return null;
        var period = TimeSpan.FromMilliseconds(Math.Max(100, _replyStallTimeout.TotalMilliseconds / 4));
        return new Timer(_ => CheckStall(), null, period, period);
    }

    /// <summary>Disconnects a client that has left a reply unread for the stall timeout.</summary>
    private void CheckStall()
    {
        if (_writer.StalledFor < _replyStallTimeout || Interlocked.CompareExchange(ref _stalled,
                $"client has not read its replies for {_replyStallTimeout.TotalSeconds:0.#} s; closing", null) is not null)
            return;
        try
        {
            _ = _cts?.CancelAsync();
        }
        catch (ObjectDisposedException)
        {
        }
        _writer.Abort();
    }

    /// <summary>Waits for room in this connection's in-flight limits and in the memory budget shared with the
    /// other connections; the held-back commands go out first, since their replies are what makes room. Until then
    /// no further request is read: a client that does not read its replies stops being read once its requests
    /// hold what it may hold.</summary>
    private ValueTask AcquireAsync(long bytes, CancellationToken token) =>
        _schedule.PushBeforeWaiting(AcquireBothAsync(bytes, token));

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AcquireBothAsync(long bytes, CancellationToken token)
    {
        await _limiter.AcquireAsync(bytes, token).ConfigureAwait(false);
        if (bytes == 0)
            return;
        try
        {
            await _budget.AcquireAsync(bytes, token).ConfigureAwait(false);
        }
        catch
        {
            _limiter.Release(bytes);
            throw;
        }
    }

    private void Release(long bytes)
    {
        _limiter.Release(bytes);
        if (bytes > 0)
            _budget.Release(bytes);
    }

    private void Dispatch(NbdRequest req, byte[]? payload, long budget)
    {
        // Runs inline up to its first real wait (the iSCSI command in flight): no thread-pool hop per request.
        // Its command is sent with those of the other requests already read, before this loop next waits.
        using (_schedule.Hold())
            _ = HandleAsync(req, payload, budget);
    }

    private async Task HandleAsync(NbdRequest req, byte[]? payload, long budget)
    {
        var token = _cts!.Token;
        try
        {
            if (req.Type == NbdConstants.CmdRead)
                await HandleReadAsync(req, token).ConfigureAwait(false);
            else
                await HandleOtherAsync(req, payload, token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Only reply sending gets here: the stream may be half-written, so the connection must end.
            ReplyFailed($"sending reply to {req.CommandName}", e);
        }
        finally
        {
            if (payload is not null)
                _buffers.Return(payload);
            Release(budget);
        }
    }

    /// <summary>Read replies up to this size (header included) go out as one contiguous buffer and one write;
    /// larger ones keep the data in its own buffer (pool sizes are powers of two: a header in front of a
    /// power-of-two payload would double the buffer) and are written as header + data under one lock.</summary>
    private const int ContiguousReadReplyLimit = 64 * 1024;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask HandleReadAsync(NbdRequest req, CancellationToken token)
    {
        if (Validate(req) is { } invalid)
        {
            await _writer.SendErrorAsync(req.Cookie, invalid.Error, invalid.Message, token).ConfigureAwait(false);
            return;
        }
        int len = (int)req.Length;
        int hdr = _writer.ReadReplyHeaderLength;
        bool contiguous = hdr + len <= ContiguousReadReplyLimit;
        byte[] buf = _buffers.Rent(contiguous ? hdr + len : len);
        byte[]? header = contiguous ? null : ArrayPool<byte>.Shared.Rent(hdr);
        try
        {
            var data = buf.AsMemory(contiguous ? hdr : 0, len);
            try
            {
                if (len > 0)
                    await BlockMapping.ReadAsync(_export, (long)req.Offset, data, token).ConfigureAwait(false);
            }
            catch (Exception e) when (!(e is OperationCanceledException && token.IsCancellationRequested))
            {
                var (error, message) = MapError(req, e);
                await _writer.SendErrorAsync(req.Cookie, error, message, token).ConfigureAwait(false);
                return;
            }
            var head = (header ?? buf).AsSpan(0, hdr);
            if (!_writer.StructuredReplies)
            {
                NbdReplyWriter.WriteSimpleHeader(head, 0, req.Cookie);
            }
            else if (len == 0)
            {
                NbdReplyWriter.WriteStructuredHeader(head, NbdConstants.ReplyFlagDone, NbdConstants.ReplyTypeNone, req.Cookie, 0);
                await _writer.WriteAsync(buf.AsMemory(0, NbdConstants.StructuredReplyHeaderLength), token).ConfigureAwait(false);
                return;
            }
            else
            {
                // All data is in hand, so one OFFSET_DATA chunk can carry the DONE flag.
                NbdReplyWriter.WriteStructuredHeader(head, NbdConstants.ReplyFlagDone, NbdConstants.ReplyTypeOffsetData, req.Cookie, (uint)(8 + len));
                BinaryPrimitives.WriteUInt64BigEndian(head[NbdConstants.StructuredReplyHeaderLength..], req.Offset);
            }
            if (header is null)
                await _writer.WriteAsync(buf.AsMemory(0, hdr + len), token).ConfigureAwait(false);
            else
                await _writer.WriteAsync(header.AsMemory(0, hdr), data, token).ConfigureAwait(false);
        }
        finally
        {
            _buffers.Return(buf);
            if (header is not null)
                ArrayPool<byte>.Shared.Return(header);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask HandleOtherAsync(NbdRequest req, byte[]? payload, CancellationToken token)
    {
        if (Validate(req) is { } invalid)
        {
            await _writer.SendErrorAsync(req.Cookie, invalid.Error, invalid.Message, token).ConfigureAwait(false);
            return;
        }
        var b = _export.Backend;
        long offset = (long)req.Offset;
        long length = req.Length;
        bool fua = (req.Flags & NbdConstants.CmdFlagFua) != 0;
        try
        {
            switch (req.Type)
            {
                case NbdConstants.CmdWrite:
                    if (length > 0)
                        await BlockMapping.WriteAsync(_export, offset, payload.AsMemory(0, (int)length), fua, token).ConfigureAwait(false);
                    break;
                case NbdConstants.CmdFlush:
                    await b.FlushAsync(token).ConfigureAwait(false);
                    break;
                case NbdConstants.CmdTrim:
                    await BlockMapping.TrimAsync(_export, offset, length, fua, token).ConfigureAwait(false);
                    break;
                case NbdConstants.CmdWriteZeroes:
                    bool mayUnmap = (req.Flags & NbdConstants.CmdFlagNoHole) == 0;
                    await BlockMapping.WriteZeroesAsync(_export, offset, length, mayUnmap, fua, token).ConfigureAwait(false);
                    break;
                case NbdConstants.CmdCache:
                    // A hint only; nothing to prefetch into.
                    break;
            }
        }
        catch (Exception e) when (!(e is OperationCanceledException && token.IsCancellationRequested))
        {
            var (error, message) = MapError(req, e);
            await _writer.SendErrorAsync(req.Cookie, error, message, token).ConfigureAwait(false);
            return;
        }
        await _writer.SendOkAsync(req.Cookie, token).ConfigureAwait(false);
    }

    /// <summary>Checks a request against the export before touching the backend; null when it is acceptable.</summary>
    private (uint Error, string Message)? Validate(NbdRequest req)
    {
        var b = _export.Backend;
        var caps = b.Capabilities;
        bool outOfRange = !BlockMapping.Covers(_export, req.Offset, req.Length);
        ushort flags = req.Flags;
        const ushort fuaOnly = NbdConstants.CmdFlagFua;
        switch (req.Type)
        {
            case NbdConstants.CmdRead:
                if ((flags & ~fuaOnly) != 0)
                    return (NbdConstants.EInval, $"unsupported flags 0x{flags:x} on READ");
                if (req.Length > NbdConstants.MaxPayloadLength)
                    return (NbdConstants.EInval, $"read of {req.Length} bytes exceeds the maximum of {NbdConstants.MaxPayloadLength}");
                if (outOfRange)
                    return (NbdConstants.EInval, "read beyond the end of the export");
                return null;
            case NbdConstants.CmdWrite:
                if (caps.HasFlag(BlockCapabilities.ReadOnly))
                    return (NbdConstants.EPerm, "export is read-only");
                if ((flags & ~fuaOnly) != 0)
                    return (NbdConstants.EInval, $"unsupported flags 0x{flags:x} on WRITE");
                if (outOfRange)
                    return (NbdConstants.ENoSpc, "write beyond the end of the export");
                return null;
            case NbdConstants.CmdFlush:
                if (!caps.HasFlag(BlockCapabilities.Flush))
                    return (NbdConstants.EInval, "flush is not supported by this export");
                if ((flags & ~fuaOnly) != 0)
                    return (NbdConstants.EInval, $"unsupported flags 0x{flags:x} on FLUSH");
                return null;
            case NbdConstants.CmdTrim:
                if (caps.HasFlag(BlockCapabilities.ReadOnly))
                    return (NbdConstants.EPerm, "export is read-only");
                if (!caps.HasFlag(BlockCapabilities.Trim))
                    return (NbdConstants.EInval, "trim is not supported by this export");
                if ((flags & ~fuaOnly) != 0)
                    return (NbdConstants.EInval, $"unsupported flags 0x{flags:x} on TRIM");
                if (outOfRange)
                    return (NbdConstants.EInval, "trim beyond the end of the export");
                return null;
            case NbdConstants.CmdWriteZeroes:
                if (caps.HasFlag(BlockCapabilities.ReadOnly))
                    return (NbdConstants.EPerm, "export is read-only");
                if ((flags & ~(fuaOnly | NbdConstants.CmdFlagNoHole)) != 0)
                    return (NbdConstants.EInval, $"unsupported flags 0x{flags:x} on WRITE_ZEROES");
                if (outOfRange)
                    return (NbdConstants.ENoSpc, "write zeroes beyond the end of the export");
                return null;
            case NbdConstants.CmdCache:
                if ((flags & ~fuaOnly) != 0)
                    return (NbdConstants.EInval, $"unsupported flags 0x{flags:x} on CACHE");
                if (outOfRange)
                    return (NbdConstants.EInval, "cache beyond the end of the export");
                return null;
            case NbdConstants.CmdBlockStatus:
                return (NbdConstants.EInval, "no metadata context was negotiated");
            default:
                return (NbdConstants.EInval, $"unknown command {req.Type}");
        }
    }

    private (uint Error, string Message) MapError(NbdRequest req, Exception e)
    {
        string where = $"{req.CommandName} offset {req.Offset} length {req.Length}";
        if (e is BlockBackendException be)
        {
            uint error = be.Error switch
            {
                BlockError.Io => NbdConstants.EIo,
                BlockError.NoSpace => NbdConstants.ENoSpc,
                BlockError.Invalid => NbdConstants.EInval,
                BlockError.ReadOnly => NbdConstants.EPerm,
                BlockError.NotSupported => NbdConstants.ENotSup,
                _ => NbdConstants.EIo,
            };
            Log($"{where} failed: {be.Error}: {be.Message}");
            return (error, be.Message);
        }
        Log($"{where} failed with an unexpected {e.GetType().Name}: {e.Message}");
        return (NbdConstants.EIo, "I/O error");
    }

    /// <summary>A reply could not be sent (here or in a flush the schedule pushed later): the connection must end.</summary>
    private void ReplyFailed(string what, Exception e)
    {
        var cts = _cts;
        if (Interlocked.Exchange(ref _failed, 1) == 0 && cts is not null && !cts.IsCancellationRequested)
            Log($"{what} failed: {e.Message}; closing");
        try
        {
            // Never run the cancellation callbacks inline: this may be a pushed flush, holding the reply lock.
            _ = cts?.CancelAsync();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void Log(string line) => _log?.Invoke($"nbd [{_peer} {_export.Name}]: {line}");
}
