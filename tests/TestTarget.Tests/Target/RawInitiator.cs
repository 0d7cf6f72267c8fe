using System.Net.Sockets;
using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.TestTarget.Tests.Target;

/// <summary>What the target answered to one SCSI command, as seen on the wire.</summary>
internal sealed record ScsiOutcome(
    byte Status,
    byte[] Data,
    byte[] Sense,
    byte ResponseFlags,
    uint ResidualCount,
    List<(uint Offset, uint Length, uint R2TSN)> R2Ts,
    List<(uint Offset, int Length, uint DataSN, byte Flags)> DataIns,
    bool StatusInDataIn)
{
    public bool Overflow => (ResponseFlags & 0x04) != 0;
    public bool Underflow => (ResponseFlags & 0x02) != 0;
    public byte SenseKey => (byte)(Sense[2] & 0x0F);
    public byte Asc => Sense[12];
}

/// <summary>A login refused by the target, with its Status-Class/Status-Detail.</summary>
internal sealed class RawLoginRefused(ushort status) : Exception($"login refused with status 0x{status:x4}")
{
    public ushort Status { get; } = status;
}

/// <summary>
/// A bare-hands initiator for tests: builds PDUs with the shared protocol layer and sends them over TCP, so
/// tests control every field (stages, CmdSN, R2T handling, Data-Out offsets) and see every answer.
/// </summary>
internal sealed class RawInitiator : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly TcpClient _client;
    private uint _nextItt = 0x10;

    private RawInitiator(TcpClient client)
    {
        _client = client;
        var stream = client.GetStream();
        Reader = new PduReader(stream);
        Writer = new PduWriter(stream);
    }

    public PduReader Reader { get; }
    public PduWriter Writer { get; }
    public byte[] Isid { get; } = [0x80, 0x12, 0x34, 0x56, 0x78, 0x00];
    public ushort Tsih { get; private set; }
    public uint CmdSN { get; set; } = 1;
    public uint ExpStatSN { get; set; }
    public uint LastMaxCmdSN { get; private set; }
    public uint LastExpCmdSN { get; private set; }

    /// <summary>The target's declared MaxRecvDataSegmentLength (8192 until declared).</summary>
    public int TargetMaxRecv { get; private set; } = 8192;

    /// <summary>Keys the target answered in the operational stage.</summary>
    public Dictionary<string, string> Answers { get; } = new();

    /// <summary>Keys of the very first login response.</summary>
    public TextKeys FirstResponseKeys { get; private set; } = [];

    public static async Task<RawInitiator> ConnectAsync(int port)
    {
        var client = new TcpClient { NoDelay = true };
        using var cts = new CancellationTokenSource(Timeout);
        await client.ConnectAsync("127.0.0.1", port, cts.Token);
        return new RawInitiator(client);
    }

    public uint NextItt() => _nextItt++;

    public async Task SendAsync(Pdu pdu)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await Writer.WriteAsync(pdu, cts.Token);
        await Writer.FlushAsync(cts.Token);
    }

    /// <summary>Sends raw bytes (for malformed input).</summary>
    public async Task SendRawAsync(byte[] bytes)
    {
        await _client.GetStream().WriteAsync(bytes);
        await _client.GetStream().FlushAsync();
    }

    /// <summary>The next PDU from the target; fails the test if none comes within the timeout.</summary>
    public async Task<Pdu> ReceiveAsync()
    {
        var pdu = new Pdu();
        using var cts = new CancellationTokenSource(Timeout);
        if (!await Reader.ReadPduAsync(pdu, cts.Token)) throw new EndOfStreamException("the target closed the connection");
        if (pdu.Opcode is Opcode.ScsiResponse or Opcode.NopIn or Opcode.TaskManagementResponse or Opcode.TextResponse
            or Opcode.LogoutResponse or Opcode.Reject or Opcode.LoginResponse or Opcode.DataIn)
        {
            bool advances = pdu.Opcode != Opcode.DataIn || (pdu.Flags & 0x01) != 0;
            if (pdu.Opcode == Opcode.NopIn && pdu.InitiatorTaskTag == Pdu.ReservedTag) advances = false;
            if (advances) ExpStatSN = pdu.StatSN + 1;
        }
        LastExpCmdSN = pdu.ExpCmdSN;
        LastMaxCmdSN = pdu.MaxCmdSN;
        return pdu;
    }

    /// <summary>True when the target closes the connection (end of stream or reset) within the timeout.</summary>
    public async Task<bool> ClosedByTargetAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var pdu = new Pdu();
        try
        {
            while (await Reader.ReadPduAsync(pdu, cts.Token)) { }
            return true;
        }
        catch (IOException) { return true; }
        catch (OperationCanceledException) { return false; }
    }

    /// <summary>One Login request; returns the (first) response PDU.</summary>
    public async Task<Pdu> LoginStepAsync(int currentStage, int? nextStage, TextKeys keys, bool more = false)
    {
        using var request = new Pdu(Opcode.LoginRequest, immediate: true, final: false);
        request.Flags = (byte)((nextStage is null ? 0 : 0x80 | nextStage.Value) | (more ? 0x40 : 0) | (currentStage << 2));
        Isid.CopyTo(request.Bhs, 8);
        request.SetU16(14, Tsih);
        request.InitiatorTaskTag = 0;
        request.CmdSN = CmdSN;
        request.ExpStatSN = ExpStatSN;
        request.SetData(keys.Encode());
        await SendAsync(request);
        Pdu response = await ReceiveAsync();
        Assert.Equal(Opcode.LoginResponse, response.Opcode);
        return response;
    }

    public static ushort StatusOf(Pdu loginResponse) => loginResponse.U16(36);

    /// <summary>
    /// A complete login: security stage with AuthMethod=None, then the operational keys. Throws
    /// <see cref="RawLoginRefused"/> with the status when the target refuses.
    /// </summary>
    public async Task LoginAsync(string initiatorName, string? targetName, TextKeys? operational = null)
    {
        var security = new TextKeys { { "InitiatorName", initiatorName }, { "SessionType", targetName is null ? "Discovery" : "Normal" } };
        if (targetName is not null) security.Add("TargetName", targetName);
        security.Add("AuthMethod", "None");
        using (Pdu first = await LoginStepAsync(0, 1, security))
        {
            ushort status = StatusOf(first);
            if (status != 0) throw new RawLoginRefused(status);
            FirstResponseKeys = TextKeys.Parse(first.Data.Span);
            Assert.Equal(0x80 | 0x01, first.Flags & 0x83); // T=1, NSG=operational
        }
        operational ??= DefaultOperationalKeys(targetName is null);
        using Pdu response = await LoginStepAsync(1, 3, operational);
        ushort opStatus = StatusOf(response);
        if (opStatus != 0) throw new RawLoginRefused(opStatus);
        Assert.Equal(0x80 | 0x03, response.Flags & 0x83); // T=1, NSG=full feature
        foreach (var (key, value) in TextKeys.Parse(response.Data.Span)) Answers[key] = value;
        Tsih = response.U16(14);
        Assert.NotEqual(0, Tsih);
        if (Answers.TryGetValue("MaxRecvDataSegmentLength", out var mrdsl)) TargetMaxRecv = int.Parse(mrdsl);
        Reader.HeaderDigest = Writer.HeaderDigest = Answers.GetValueOrDefault("HeaderDigest") == "CRC32C";
        Reader.DataDigest = Writer.DataDigest = Answers.GetValueOrDefault("DataDigest") == "CRC32C";
    }

    public static TextKeys DefaultOperationalKeys(bool discovery) => discovery
        ? new TextKeys { { "HeaderDigest", "None" }, { "DataDigest", "None" }, { "MaxRecvDataSegmentLength", "8192" } }
        : new TextKeys
        {
            { "HeaderDigest", "None" }, { "DataDigest", "None" }, { "MaxRecvDataSegmentLength", "8192" },
            { "InitialR2T", "Yes" }, { "ImmediateData", "Yes" }, { "MaxBurstLength", "16384" }, { "FirstBurstLength", "4096" },
            { "MaxOutstandingR2T", "1" }, { "ErrorRecoveryLevel", "0" },
        };

    /// <summary>A SCSI Command PDU with the next CmdSN (not advanced for immediate commands).</summary>
    public Pdu ScsiCommand(uint itt, byte[] cdb, uint expectedLength, bool read, bool write, bool final = true, byte[]? immediateData = null, ulong lun = 0, bool immediate = false)
    {
        var pdu = new Pdu(Opcode.ScsiCommand, immediate: immediate, final: final);
        pdu.Flags |= (byte)((read ? 0x40 : 0) | (write ? 0x20 : 0) | 0x01); // ATTR: simple
        pdu.Lun = lun;
        pdu.InitiatorTaskTag = itt;
        pdu.ExpectedDataTransferLength = expectedLength;
        pdu.CmdSN = immediate ? CmdSN : CmdSN++;
        pdu.ExpStatSN = ExpStatSN;
        cdb.CopyTo(pdu.Cdb);
        if (immediateData is not null) pdu.SetData(immediateData);
        return pdu;
    }

    public static Pdu DataOut(uint itt, uint ttt, uint dataSN, uint offset, ReadOnlyMemory<byte> data, bool final, ulong lun = 0)
    {
        var pdu = new Pdu(Opcode.DataOut, final: final);
        pdu.Lun = lun;
        pdu.InitiatorTaskTag = itt;
        pdu.TargetTransferTag = ttt;
        pdu.DataSN = dataSN;
        pdu.BufferOffset = offset;
        pdu.SetData(data);
        return pdu;
    }

    /// <summary>Runs a command without Data-Out and collects its Data-In and status.</summary>
    public async Task<ScsiOutcome> ExecuteAsync(byte[] cdb, uint expectedLength, bool read = true, ulong lun = 0)
    {
        uint itt = NextItt();
        using (Pdu command = ScsiCommand(itt, cdb, expectedLength, read, write: false, lun: lun)) await SendAsync(command);
        return await CollectAsync(itt, expectedLength, []);
    }

    /// <summary>
    /// Runs a write: the first <paramref name="immediateBytes"/> go as immediate data, <paramref name="unsolicitedBytes"/>
    /// more as unsolicited Data-Out, and the rest whenever the target sends an R2T (in PDUs of at most the target's
    /// MaxRecvDataSegmentLength).
    /// </summary>
    public async Task<ScsiOutcome> WriteAsync(byte[] cdb, byte[] data, int immediateBytes, int unsolicitedBytes = 0, uint? expectedLength = null, ulong lun = 0)
    {
        uint itt = NextItt();
        uint edtl = expectedLength ?? (uint)data.Length;
        byte[]? immediate = immediateBytes > 0 ? data[..immediateBytes] : null;
        using (Pdu command = ScsiCommand(itt, cdb, edtl, read: false, write: true, final: unsolicitedBytes == 0, immediateData: immediate, lun: lun))
            await SendAsync(command);
        if (unsolicitedBytes > 0)
            await SendDataOutAsync(itt, Pdu.ReservedTag, data, immediateBytes, unsolicitedBytes);
        var r2ts = new List<(uint, uint, uint)>();
        return await CollectAsync(itt, 0, r2ts, data);
    }

    public async Task SendDataOutAsync(uint itt, uint ttt, byte[] data, int offset, int length)
    {
        uint dataSN = 0;
        for (int sent = 0; sent < length;)
        {
            int piece = Math.Min(TargetMaxRecv, length - sent);
            bool final = sent + piece == length;
            using var pdu = DataOut(itt, ttt, dataSN++, (uint)(offset + sent), data.AsMemory(offset + sent, piece), final);
            await SendAsync(pdu);
            sent += piece;
        }
    }

    private async Task<ScsiOutcome> CollectAsync(uint itt, uint expectedLength, List<(uint, uint, uint)> r2ts, byte[]? writeData = null)
    {
        var data = new MemoryStream();
        var dataIns = new List<(uint, int, uint, byte)>();
        while (true)
        {
            using Pdu pdu = await ReceiveAsync();
            Assert.Equal(itt, pdu.InitiatorTaskTag);
            switch (pdu.Opcode)
            {
                case Opcode.DataIn:
                    dataIns.Add((pdu.BufferOffset, pdu.DataSegmentLength, pdu.DataSN, pdu.Flags));
                    Assert.Equal(data.Length, pdu.BufferOffset);
                    data.Write(pdu.Data.Span);
                    if ((pdu.Flags & 0x01) != 0)
                        return new ScsiOutcome(pdu.Status, data.ToArray(), [], pdu.Flags, pdu.ResidualCount, r2ts, dataIns, true);
                    break;
                case Opcode.ReadyToTransfer:
                    Assert.NotNull(writeData);
                    r2ts.Add((pdu.BufferOffset, pdu.DesiredDataTransferLength, pdu.R2TSN));
                    await SendDataOutAsync(itt, pdu.TargetTransferTag, writeData!, (int)pdu.BufferOffset, (int)pdu.DesiredDataTransferLength);
                    break;
                case Opcode.ScsiResponse:
                    byte[] sense = pdu.Data.Length >= 2 ? pdu.Data.Span[2..(2 + ((pdu.Data.Span[0] << 8) | pdu.Data.Span[1]))].ToArray() : [];
                    return new ScsiOutcome(pdu.Status, data.ToArray(), sense, pdu.Flags, pdu.ResidualCount, r2ts, dataIns, false);
                default:
                    throw new InvalidOperationException($"unexpected {pdu.Opcode} while waiting for task 0x{itt:x8}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await Task.CompletedTask;
    }
}
