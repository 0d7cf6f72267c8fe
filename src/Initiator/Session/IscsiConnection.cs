using System.Net.Sockets;
using System.Runtime.CompilerServices;
using IscsiUp.Io;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Login;

namespace IscsiUp.Initiator.Session;

/// <summary>
/// One TCP connection to a target portal, framed into PDUs. Writes are serialised by a lock so several
/// tasks can send; reads belong to a single loop.
/// </summary>
public sealed class IscsiConnection : ILoginConnection, IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly CoalescingWriteLock _writeLock;

    public Portal Portal { get; }
    public PduReader Reader { get; }
    public PduWriter Writer { get; }

    /// <summary>When this connection's sends leave: held while the session's loops handle input at hand (the
    /// receive loop handing out responses it has already read, an NBD loop sending the commands of requests it
    /// has read), pushed before a loop waits (see <see cref="SendSchedule"/>).</summary>
    public SendSchedule Schedule { get; }

    private IscsiConnection(Socket socket, Portal portal, SendSchedule schedule)
    {
        _socket = socket;
        Portal = portal;
        Schedule = schedule;
        _stream = new NetworkStream(socket, ownsSocket: true);
        Reader = new PduReader(schedule.BufferedReader(_stream, 64 * 1024));
        var output = new GatherWriteStream(socket, 64 * 1024);
        Writer = new PduWriter(output);
        // A held flush that failed means a dead socket: close it, so the receive loop fails the session.
        _writeLock = new CoalescingWriteLock(output, schedule, _ => Abort());
    }

    /// <summary>Connects with a timeout; failures become one-line messages naming the portal. Sends follow
    /// <paramref name="schedule"/>, the session's (null: one of the connection's own).</summary>
    public static async Task<IscsiConnection> ConnectAsync(Portal portal, TimeSpan timeout, CancellationToken ct, SendSchedule? schedule = null)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timer.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(portal.Host, portal.Port, timer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            socket.Dispose();
            throw new ConnectTimeoutException($"cannot connect to portal {portal}: no answer within {timeout.TotalSeconds:0} s");
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new ConnectException($"cannot connect to portal {portal}: {Describe(e)}", e);
        }
        return new IscsiConnection(socket, portal, schedule ?? new SendSchedule());
    }

    private static string Describe(SocketException e) => e.SocketErrorCode switch
    {
        SocketError.ConnectionRefused => "connection refused (is the target running and listening on that port?)",
        SocketError.HostNotFound or SocketError.NoData => "host name not found",
        SocketError.TimedOut => "connection timed out",
        SocketError.NetworkUnreachable => "network unreachable (is the network up, with a route to the portal?)",
        SocketError.HostUnreachable => "host unreachable",
        _ => e.Message,
    };

    /// <summary>Sends one PDU and flushes it to the socket.</summary>
    public async ValueTask SendAsync(Pdu pdu, CancellationToken ct)
    {
        await using var scope = await LockForWritingAsync(ct).ConfigureAwait(false);
        await scope.WriteAsync(pdu, ct).ConfigureAwait(false);
    }

    /// <summary>Takes the write lock for a run of PDUs (for example a Data-Out sequence); see <see cref="CoalescingWriteLock"/>.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<WriteScope> LockForWritingAsync(CancellationToken ct)
    {
        await _writeLock.EnterAsync(ct).ConfigureAwait(false);
        return new WriteScope(this);
    }

    public readonly struct WriteScope(IscsiConnection connection) : IAsyncDisposable
    {
        public ValueTask WriteAsync(Pdu pdu, CancellationToken ct) => connection.Writer.WriteAsync(pdu, ct);

        /// <summary>See <see cref="PduWriter.QueueAsync"/>: the payload is sent by reference, not copied.</summary>
        public ValueTask QueueAsync(Pdu pdu, CancellationToken ct) => connection.Writer.QueueAsync(pdu, ct);

        public ValueTask SendQueuedAsync(CancellationToken ct) => connection.Writer.SendQueuedAsync(ct);

        public void DiscardQueued() => connection.Writer.DiscardQueued();

        public ValueTask DisposeAsync() => connection._writeLock.ExitAsync();
    }

    string ILoginConnection.Portal => Portal.ToString();

    ValueTask<bool> ILoginConnection.ReceiveAsync(Pdu pdu, CancellationToken ct) => Reader.ReadPduAsync(pdu, ct);

    /// <summary>Closes the socket at once, failing pending reads and writes.</summary>
    public void Abort()
    {
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        _socket.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Abort();
        return ValueTask.CompletedTask;
    }
}
