using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Iscsi.Login;

namespace IscsiUp.Initiator.Tests.Fuzz;

/// <summary>
/// A tiny fake iSCSI target on 127.0.0.1: it completes a normal login (AuthMethod=None, then echoes every
/// negotiated key with a value the rules allow), and from the first SCSI command on hands the connection to a
/// <see cref="Behaviour"/> that answers however the test wants: garbage, impossible PDUs, truncation, silence.
/// Other requests get scriptable answers: NOP-Out pings and logouts are answered unless told otherwise, task
/// management requests only when <see cref="TaskManagementAnswer"/> says how, and <see cref="Window"/> can keep
/// the command window closed. Every new connection (a reconnect) is counted.
/// </summary>
internal sealed class HostileTarget : IAsyncDisposable
{
    public delegate Task Behaviour(HostilePeer peer);

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Behaviour _behaviour;
    private readonly Task _acceptLoop;
    private readonly ConcurrentBag<Task> _connections = [];

    private readonly Action<Pdu>? _onOther;

    /// <param name="behaviour">Answers each SCSI command.</param>
    /// <param name="onOther">Sees every other PDU the initiator sends in the full-feature phase (Data-Out, NOP-Out...).</param>
    public HostileTarget(Behaviour behaviour, Action<Pdu>? onOther = null)
    {
        _behaviour = behaviour;
        _onOther = onOther;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public const string Name = "iqn.2025-01.org.iscsi-up.test:hostile";
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>What the fake target saw and did, for failure messages.</summary>
    public ConcurrentQueue<string> Log { get; } = new();

    /// <summary>Set once a SCSI command arrived (the login worked).</summary>
    public TaskCompletionSource CommandSeen { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string LogText => string.Join(" | ", Log);

    /// <summary>Commands the target accepts beyond ExpCmdSN - 1 (MaxCmdSN = ExpCmdSN + Window - 1); 0 keeps the window closed.</summary>
    public int Window { get; set; } = 32;
    /// <summary>The window NOP-In answers announce (default: <see cref="Window"/>): a target that reopens its window only when pinged.</summary>
    public int? PingWindow { get; set; }
    /// <summary>Answer NOP-Out pings with a NOP-In (true by default).</summary>
    public bool AnswerPings { get; set; } = true;
    /// <summary>Answer logout requests and close (true by default).</summary>
    public bool AnswerLogouts { get; set; } = true;
    /// <summary>The response code for a task management function, or null to ignore the request (the default).</summary>
    public Func<byte, byte?> TaskManagementAnswer { get; set; } = _ => null;
    /// <summary>Connections that completed a login.</summary>
    public int Logins => Volatile.Read(ref _logins);
    private int _logins;

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            _connections.Add(Task.Run(() => ServeAsync(client)));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        var ct = _stop.Token;
        using var _ = client;
        client.NoDelay = true;
        var stream = client.GetStream();
        var reader = new PduReader(stream);
        var writer = new PduWriter(stream);
        using var pdu = new Pdu();
        uint statSN = 0x100;
        bool headerDigest = false, dataDigest = false;
        try
        {
            // Login: answer each request; T=1 moves on to what the initiator asked for.
            while (true)
            {
                if (!await reader.ReadPduAsync(pdu, ct)) return;
                if (pdu.Opcode != Opcode.LoginRequest) { Log.Enqueue($"expected a login, got {pdu.Opcode}"); return; }
                int csg = (pdu.Flags >> 2) & 3, nsg = pdu.Flags & 3;
                bool transit = (pdu.Flags & 0x80) != 0;
                var offered = TextKeys.Parse(pdu.Data.Span);
                var answer = new TextKeys();
                if (csg == 0)
                {
                    answer.Add("AuthMethod", "None");
                    answer.Add("TargetPortalGroupTag", "1");
                }
                else
                {
                    foreach (var (key, value) in offered)
                    {
                        if (LoginKeys.Find(key) is not { Kind: not KeyKind.Declarative }) continue;
                        string chosen = value.Split(',')[0];
                        answer.Add(key, chosen);
                        if (key == "HeaderDigest") headerDigest = chosen == "CRC32C";
                        if (key == "DataDigest") dataDigest = chosen == "CRC32C";
                    }
                    answer.Add("MaxRecvDataSegmentLength", "262144");
                }
                bool done = transit && nsg == (int)LoginStage.FullFeaturePhase;
                using var response = new Pdu(Opcode.LoginResponse);
                response.Flags = transit ? (byte)(0x80 | (csg << 2) | nsg) : (byte)(csg << 2);
                pdu.Bhs.AsSpan(8, 6).CopyTo(response.Bhs.AsSpan(8)); // ISID
                response.SetU16(14, 0x0042); // TSIH
                response.InitiatorTaskTag = pdu.InitiatorTaskTag;
                response.StatSN = statSN++;
                response.ExpCmdSN = pdu.CmdSN;
                response.MaxCmdSN = pdu.CmdSN + (uint)Window - 1;
                response.SetData(answer.Encode());
                await writer.WriteAsync(response, ct);
                await writer.FlushAsync(ct);
                if (done) break;
            }
            int login = Interlocked.Increment(ref _logins);
            Log.Enqueue($"logged in (header digest {headerDigest}, data digest {dataDigest})");

            reader.HeaderDigest = writer.HeaderDigest = headerDigest;
            reader.DataDigest = writer.DataDigest = dataDigest;
            uint expCmdSN = pdu.CmdSN;
            while (await reader.ReadPduAsync(pdu, ct))
            {
                if (!pdu.Immediate) expCmdSN = pdu.CmdSN + 1;
                if (pdu.Opcode != Opcode.ScsiCommand)
                {
                    Log.Enqueue($"received {pdu}");
                    _onOther?.Invoke(pdu);
                    if (Answer(pdu, statSN, expCmdSN) is { } answer)
                    {
                        statSN++;
                        using (answer) await writer.WriteAsync(answer, ct);
                        await writer.FlushAsync(ct);
                        if (answer.Opcode == Opcode.LogoutResponse) return;
                    }
                    continue;
                }
                Log.Enqueue($"command {pdu}");
                CommandSeen.TrySetResult();
                var peer = new HostilePeer(client, stream, writer, pdu, statSN++, headerDigest, dataDigest, Window, login);
                await _behaviour(peer);
                if (peer.Closed) return;
            }
            Log.Enqueue("initiator closed the connection");
        }
        catch (Exception e)
        {
            Log.Enqueue($"connection ended: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>The answer to a request other than a SCSI command, or null to leave it unanswered.</summary>
    private Pdu? Answer(Pdu request, uint statSN, uint expCmdSN)
    {
        Pdu? answer = null;
        switch (request.Opcode)
        {
            case Opcode.NopOut when AnswerPings && request.InitiatorTaskTag != Pdu.ReservedTag:
                answer = new Pdu(Opcode.NopIn) { Lun = request.Lun, TargetTransferTag = Pdu.ReservedTag };
                break;
            case Opcode.LogoutRequest when AnswerLogouts:
                answer = new Pdu(Opcode.LogoutResponse);
                break;
            case Opcode.TaskManagementRequest:
                byte function = (byte)(request.Flags & 0x7F);
                if (TaskManagementAnswer(function) is not { } code) break;
                answer = new Pdu(Opcode.TaskManagementResponse) { Response = code };
                Log.Enqueue($"task management function {function} answered {code}");
                break;
        }
        if (answer is null) return null;
        answer.InitiatorTaskTag = request.InitiatorTaskTag;
        answer.StatSN = statSN;
        answer.ExpCmdSN = expCmdSN;
        answer.MaxCmdSN = expCmdSN + (uint)(answer.Opcode == Opcode.NopIn ? PingWindow ?? Window : Window) - 1;
        return answer;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _acceptLoop;
        foreach (var connection in _connections)
        {
            try { await connection.WaitAsync(TimeSpan.FromSeconds(5)); } catch (Exception) { }
        }
    }
}

/// <summary>The connection as a misbehaving target sees it just after a SCSI command arrived.</summary>
internal sealed class HostilePeer(TcpClient client, NetworkStream stream, PduWriter writer, Pdu command, uint statSN, bool headerDigest, bool dataDigest,
    int window = 32, int login = 1)
{
    /// <summary>Which login of the target this connection is (1 for the first, 2 after one reconnect...).</summary>
    public int Login { get; } = login;
    public Pdu Command { get; } = command;
    public uint Itt { get; } = command.InitiatorTaskTag;
    public uint ExpectedLength { get; } = command.ExpectedDataTransferLength;
    public bool IsRead => (Command.Flags & 0x40) != 0;
    public bool IsWrite => (Command.Flags & 0x20) != 0;
    public bool Closed { get; private set; }

    /// <summary>A target PDU for this command with consistent sequence numbers.</summary>
    public Pdu Response(Opcode opcode, uint? itt = null)
    {
        var pdu = new Pdu(opcode);
        pdu.InitiatorTaskTag = itt ?? Itt;
        pdu.TargetTransferTag = Pdu.ReservedTag;
        pdu.StatSN = statSN;
        pdu.ExpCmdSN = Command.CmdSN + 1;
        pdu.MaxCmdSN = Command.CmdSN + (uint)window;
        return pdu;
    }

    /// <summary>A Data-In PDU; <paramref name="status"/> sets the S bit with that SCSI status.</summary>
    public Pdu DataIn(uint offset, byte[] data, byte? status = null, uint? itt = null, uint dataSN = 0)
    {
        var pdu = Response(Opcode.DataIn, itt);
        pdu.Final = true;
        if (status is { } s) { pdu.Flags |= 0x01; pdu.Status = s; }
        pdu.DataSN = dataSN;
        pdu.BufferOffset = offset;
        pdu.SetData(data);
        return pdu;
    }

    /// <summary>The data a well-behaved target returns with GOOD status: cut to the allocation length, with the
    /// underflow residual the RFC asks for when it is shorter (RFC 7143 11.4.5).</summary>
    public Task SendGoodDataAsync(byte[] data)
    {
        int length = (int)Math.Min(data.Length, ExpectedLength);
        var pdu = DataIn(0, data[..length], status: 0);
        if (length < ExpectedLength)
        {
            pdu.Flags |= 0x02; // U
            pdu.ResidualCount = ExpectedLength - (uint)length;
        }
        return SendAsync(pdu);
    }

    public async Task SendAsync(Pdu pdu)
    {
        using (pdu)
        {
            await writer.WriteAsync(pdu, CancellationToken.None);
            await writer.FlushAsync(CancellationToken.None);
        }
    }

    /// <summary>The bytes of <paramref name="pdu"/> as this connection would send them (its digests included).</summary>
    public byte[] Encode(Pdu pdu)
    {
        using (pdu)
        {
            var buffer = new MemoryStream();
            new PduWriter(buffer) { HeaderDigest = headerDigest, DataDigest = dataDigest }
                .WriteAsync(pdu, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            return buffer.ToArray();
        }
    }

    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes)
    {
        await stream.WriteAsync(bytes);
        await stream.FlushAsync();
    }

    /// <summary>Closes the connection (FIN), as a target that gives up would.</summary>
    public void Close()
    {
        Closed = true;
        try { client.Client.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        client.Close();
    }
}
