using IscsiUp.Io;
using System.Buffers.Binary;
using IscsiUp.Initiator.Login;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Initiator.Tests.Fuzz;

/// <summary>
/// Numbers and text a target sends are checked before use (issue 19, class 5): an impossible capacity or LUN
/// list is refused with an error naming the target, and text with control characters never reaches a message.
/// </summary>
public sealed class TargetSuppliedValuesTests
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(20);

    private static LoginOptions Options() => new()
    {
        InitiatorName = "iqn.2025-01.org.iscsi-up.test:values",
        TargetName = HostileTarget.Name,
        Timeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>A disk that answers the commands <see cref="ScsiDisk.OpenAsync"/> sends, with the READ CAPACITY(16)
    /// and REPORT LUNS data the test gives.</summary>
    private static HostileTarget.Behaviour Disk(byte[] readCapacity16, byte[]? reportLuns = null) => async p =>
    {
        var cdb = p.Command.Cdb;
        byte[]? data = cdb[0] switch
        {
            0x12 when (cdb[1] & 1) != 0 => new byte[4],                   // INQUIRY VPD 0x00: no pages
            0x12 => StandardInquiry(),
            0x9E => readCapacity16,
            0x1A => new byte[4],                                            // MODE SENSE(6) header: no DPOFUA
            0xA0 => reportLuns ?? new byte[16],
            _ => null,                                                      // TEST UNIT READY and the like: GOOD
        };
        if (data is null)
        {
            var good = p.Response(Opcode.ScsiResponse);
            good.Final = true;
            await p.SendAsync(good);
            return;
        }
        await p.SendGoodDataAsync(data);
    };

    private static byte[] StandardInquiry()
    {
        var data = new byte[36];
        data[2] = 5; data[4] = 31; // SPC-3, additional length
        "HOSTILE "u8.CopyTo(data.AsSpan(8));
        "VALUES          "u8.CopyTo(data.AsSpan(16));
        "0001"u8.CopyTo(data.AsSpan(32));
        return data;
    }

    private static byte[] Capacity16(ulong lastLba, uint blockSize)
    {
        var data = new byte[32];
        BinaryPrimitives.WriteUInt64BigEndian(data, lastLba);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8), blockSize);
        return data;
    }

    [Theory]
    [InlineData(ulong.MaxValue, 512u, "last block 18446744073709551615 of 512 bytes")]         // wrapped to "0 blocks"
    [InlineData((1UL << 63) - 1, 512u, "last block 9223372036854775807 of 512 bytes")]          // 2^63 blocks: overflowed
    [InlineData((1UL << 54) - 1, 512u, "last block 18014398509481983 of 512 bytes")]            // exactly 2^63 bytes
    public async Task An_impossible_capacity_is_refused_naming_the_target(ulong lastLba, uint blockSize, string expected)
    {
        await using var target = new HostileTarget(Disk(Capacity16(lastLba, blockSize)));
        await using var session = await IscsiSession.LoginAsync(new Portal("127.0.0.1", target.Port), Options());

        var error = await Assert.ThrowsAsync<IOException>(() => ScsiDisk.OpenAsync(session, 0).WaitAsync(Prompt));

        Assert.Equal($"LUN 0 of target {HostileTarget.Name} reports an impossible capacity: {expected} (more than 9223372036854775807 bytes)", error.Message);
    }

    [Fact]
    public async Task The_largest_capacity_that_fits_is_accepted()
    {
        ulong lastLba = (1UL << 54) - 2; // (2^54 - 1) blocks of 512 bytes: just below 2^63 bytes
        await using var target = new HostileTarget(Disk(Capacity16(lastLba, 512)));
        await using var session = await IscsiSession.LoginAsync(new Portal("127.0.0.1", target.Port), Options());

        var disk = await ScsiDisk.OpenAsync(session, 0).WaitAsync(Prompt);

        Assert.Equal(((1L << 54) - 1) * 512, disk.CapacityBytes);
    }

    [Theory]
    [InlineData(0xFFFFFFF0u, 16)]   // "Non-negative number required" before
    [InlineData(12u, 16)]           // not a whole number of 8-byte entries
    [InlineData(8u * 16384, 16)]    // more LUNs than anyone accepts
    public async Task An_impossible_lun_list_is_refused_naming_the_target(uint listLength, int sent)
    {
        var luns = new byte[sent];
        BinaryPrimitives.WriteUInt32BigEndian(luns, listLength);
        await using var target = new HostileTarget(Disk(Capacity16(1023, 512), luns[..sent]));
        await using var session = await IscsiSession.LoginAsync(new Portal("127.0.0.1", target.Port), Options());

        var error = await Assert.ThrowsAsync<IOException>(() => ScsiDisk.ReportLunsAsync(session).WaitAsync(Prompt));

        Assert.StartsWith($"REPORT LUNS on {HostileTarget.Name} returned an unusable LUN list (", error.Message);
        Assert.Contains($" bytes, list length {listLength}; at most 16383 LUNs of 8 bytes are accepted)", error.Message);
    }

    [Fact]
    public async Task A_lun_list_longer_than_the_first_buffer_is_read_in_full()
    {
        const int count = 300; // more than the 256 entries of the first request
        var luns = new byte[8 + 8 * count];
        BinaryPrimitives.WriteUInt32BigEndian(luns, 8 * count);
        for (int i = 0; i < count; i++)
            BinaryPrimitives.WriteUInt64BigEndian(luns.AsSpan(8 + 8 * i), LunAddress.Encode(i));
        await using var target = new HostileTarget(Disk(Capacity16(1023, 512), luns));
        await using var session = await IscsiSession.LoginAsync(new Portal("127.0.0.1", target.Port), Options());

        var found = await ScsiDisk.ReportLunsAsync(session).WaitAsync(Prompt);

        Assert.Equal(Enumerable.Range(0, count), found);
    }

    [Theory]
    [InlineData("TargetName=iqn.2025-01.org.example:disk\n10.66.66.66:3260,1 iqn.2025-01.org.example:injected", @"iqn.2025-01.org.example:disk\n10.66.66.66:3260,1 iqn.2025-01.org.example:injected")]
    [InlineData("AuthMethod=\u001b[31mKRB5\u001b[0m", @"\x1b[31mKRB5\x1b[0m")]
    [InlineData("TargetAlias=disk\u202Egnp.exe", @"disk\u202egnp.exe")]
    [InlineData("TargetAddress=10.0.0.1:3260\r,1", @"10.0.0.1:3260\r,1")]
    public void A_text_value_with_control_characters_is_refused_and_shown_escaped(string item, string escaped)
    {
        var text = System.Text.Encoding.UTF8.GetBytes(item + "\0");

        var error = Assert.Throws<ProtocolException>(() => TextKeys.Parse(text));

        Assert.Equal($"the value of text key {item[..item.IndexOf('=')]} contains control characters: \"{escaped}\"", error.Message);
        Assert.True(PeerText.IsPrintable(error.Message), error.Message);
    }

    [Fact]
    public void Printable_text_and_aliases_with_spaces_pass_unchanged()
    {
        var keys = TextKeys.Parse("TargetAlias=Disk Ünø 1\0TargetName=iqn.2025-01.org.example:disk\0"u8);

        Assert.Equal("Disk Ünø 1", keys["TargetAlias"]);
        Assert.Equal("Disk Ünø 1", PeerText.Escape("Disk Ünø 1"));
        Assert.Equal(@"a\\b\x00\x7f\x9b", PeerText.Escape("a\\b\0\u007f\u009b"));
    }

    [Fact]
    public async Task A_login_answer_with_an_escape_sequence_is_a_protocol_error_naming_the_portal_without_the_escape()
    {
        await using var target = new RawLoginTarget("AuthMethod=\u001b]0;owned\u0007None\0");

        var error = await Assert.ThrowsAsync<ProtocolException>(() => IscsiSession.LoginAsync(new Portal("127.0.0.1", target.Port), Options()).WaitAsync(Prompt));

        Assert.Equal($"the value of text key AuthMethod contains control characters: \"\\x1b]0;owned\\x07None\" (target at 127.0.0.1:{target.Port}, login to {HostileTarget.Name})", error.Message);
    }

    /// <summary>Answers the first Login request with the given text (T=1 to the operational stage) and stops.</summary>
    private sealed class RawLoginTarget : IAsyncDisposable
    {
        private readonly System.Net.Sockets.TcpListener _listener = new(System.Net.IPAddress.Loopback, 0);
        private readonly Task _serve;

        public RawLoginTarget(string text)
        {
            _listener.Start();
            _serve = Task.Run(async () =>
            {
                using var client = await _listener.AcceptTcpClientAsync();
                var stream = client.GetStream();
                using var request = new Pdu();
                if (!await new PduReader(stream).ReadPduAsync(request, CancellationToken.None)) return;
                using var response = new Pdu(Opcode.LoginResponse);
                response.Flags = 0x81; // T=1, CSG=0, NSG=1
                request.Bhs.AsSpan(8, 6).CopyTo(response.Bhs.AsSpan(8));
                response.InitiatorTaskTag = request.InitiatorTaskTag;
                response.ExpCmdSN = request.CmdSN;
                response.MaxCmdSN = request.CmdSN + 1;
                response.SetData(System.Text.Encoding.UTF8.GetBytes(text));
                var writer = new PduWriter(stream);
                await writer.WriteAsync(response, CancellationToken.None);
                await writer.FlushAsync(CancellationToken.None);
                await Task.Delay(TimeSpan.FromSeconds(15)); // the initiator hangs up first
            });
        }

        public int Port => ((System.Net.IPEndPoint)_listener.LocalEndpoint).Port;

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            try { await _serve.WaitAsync(TimeSpan.FromSeconds(1)); } catch (Exception) { }
        }
    }
}
