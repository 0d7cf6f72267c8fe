using LunAddress = IscsiUp.Iscsi.Scsi.LunAddress;
using System.Buffers.Binary;
using System.Text;
using IscsiUp.TestTarget.Scsi;
using IscsiUp.TestTarget.Tests.Target;

namespace IscsiUp.TestTarget.Tests.Scsi;

/// <summary>The SBC-3 disk behind LUN 0, command by command, checking data, status and sense bytes.</summary>
public sealed class DirectAccessDeviceTests
{
    private const long Capacity = 8 << 20;
    private const ulong Blocks = Capacity / 512;
    private const string Target = "iqn.2025-01.org.iscsi-up:disk";

    private readonly MemoryStorage _storage = new(Capacity);
    private readonly LogicalUnitTable _table;

    public DirectAccessDeviceTests()
    {
        var device = new DirectAccessDevice(_storage, DeviceIdentity.For(Target, 0));
        _table = new LogicalUnitTable(new Dictionary<int, ILogicalUnit> { [0] = device }, Target);
    }

    private async Task<ScsiResult> RunAsync(byte[] cdb, byte[]? dataOut = null, int lun = 0, UnitAttentionState? attention = null)
    {
        var padded = new byte[16];
        cdb.CopyTo(padded, 0);
        return await _table.ExecuteAsync(LunAddress.Encode(lun), new ScsiRequest(padded, dataOut ?? []), attention, CancellationToken.None);
    }

    private static void AssertCheckCondition(ScsiResult result, SenseKey key, AdditionalSense sense)
    {
        Assert.Equal(ScsiStatus.CheckCondition, result.Status);
        Assert.Equal(0x70, result.Sense.Span[0] & 0x7F); // fixed format, current
        Assert.Equal(key, SenseBuilder.KeyOf(result.Sense.Span));
        Assert.Equal(sense, SenseBuilder.AdditionalOf(result.Sense.Span));
    }

    [Fact]
    public async Task StandardInquiryNamesTheDisk()
    {
        using ScsiResult result = await RunAsync(Cdb.Inquiry());

        byte[] data = result.Data.ToArray();
        Assert.Equal(ScsiStatus.Good, result.Status);
        Assert.Equal(0x00, data[0]); // connected, direct access
        Assert.Equal(0x06, data[2]); // SPC-4
        Assert.Equal(2, data[3] & 0x0F); // response data format
        Assert.Equal(data.Length - 5, data[4]);
        Assert.Equal("ISCSIUP ", Encoding.ASCII.GetString(data, 8, 8));
        Assert.Equal("RAID5 TESTDISK  ", Encoding.ASCII.GetString(data, 16, 16));
        Assert.True((data[7] & 0x02) != 0, "CmdQue");
    }

    [Fact]
    public async Task InquiryHonoursTheAllocationLength()
    {
        using ScsiResult result = await RunAsync(Cdb.Inquiry(allocation: 36));

        Assert.Equal(36, result.Data.Length);
    }

    [Fact]
    public async Task SupportedVpdPagesAreListedAndEachAnswers()
    {
        using ScsiResult list = await RunAsync(Cdb.Inquiry(evpd: true, page: 0x00));

        byte[] pages = list.Data.Span[4..].ToArray();
        Assert.Equal(new byte[] { 0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2 }, pages);
        foreach (byte page in pages)
        {
            using ScsiResult vpd = await RunAsync(Cdb.Inquiry(evpd: true, page: page));
            Assert.Equal(ScsiStatus.Good, vpd.Status);
            Assert.Equal(page, vpd.Data.Span[1]);
            Assert.Equal(vpd.Data.Length - 4, BinaryPrimitives.ReadUInt16BigEndian(vpd.Data.Span[2..]));
        }
    }

    [Fact]
    public async Task UnknownVpdPageIsAnInvalidField()
    {
        using ScsiResult result = await RunAsync(Cdb.Inquiry(evpd: true, page: 0x99));

        AssertCheckCondition(result, SenseKey.IllegalRequest, AdditionalSense.InvalidFieldInCdb);
        Assert.Equal(0xC0, result.Sense.Span[15]); // SKSV + C/D: the CDB is at fault
        Assert.Equal(2, BinaryPrimitives.ReadUInt16BigEndian(result.Sense.Span[16..])); // byte 2 (page code)
    }

    [Fact]
    public async Task UnitSerialNumberIsStablePerTargetAndLun()
    {
        using ScsiResult result = await RunAsync(Cdb.Inquiry(evpd: true, page: 0x80));

        string serial = Encoding.ASCII.GetString(result.Data.Span[4..]);
        Assert.Equal(DeviceIdentity.For(Target, 0).SerialNumber, serial);
        Assert.NotEqual(DeviceIdentity.For(Target, 1).SerialNumber, serial);
        Assert.Equal(16, serial.Length);
    }

    [Fact]
    public async Task DeviceIdentificationHasNaaAndT10VendorDesignators()
    {
        using ScsiResult result = await RunAsync(Cdb.Inquiry(evpd: true, page: 0x83));

        var designators = new List<(int CodeSet, int Association, int Type, byte[] Value)>();
        ReadOnlySpan<byte> body = result.Data.Span[4..];
        while (body.Length >= 4)
        {
            int length = body[3];
            designators.Add((body[0] & 0x0F, (body[1] >> 4) & 3, body[1] & 0x0F, body[4..(4 + length)].ToArray()));
            body = body[(4 + length)..];
        }
        var naa = Assert.Single(designators, d => d.Type == 3 && d.Association == 0);
        Assert.Equal(8, naa.Value.Length);
        Assert.Equal(0x3, naa.Value[0] >> 4); // NAA locally assigned
        Assert.Equal(DeviceIdentity.For(Target, 0).NaaIdentifier, BinaryPrimitives.ReadUInt64BigEndian(naa.Value));
        var vendor = Assert.Single(designators, d => d.Type == 1);
        Assert.StartsWith("ISCSIUP ", Encoding.ASCII.GetString(vendor.Value));
        Assert.Contains(designators, d => d.Type == 8 && Encoding.UTF8.GetString(d.Value).StartsWith(Target + ",t,0x0001"));
    }

    [Fact]
    public async Task BlockLimitsAndProvisioningPagesDescribeUnmapSupport()
    {
        using ScsiResult limits = await RunAsync(Cdb.Inquiry(evpd: true, page: 0xB0));
        using ScsiResult provisioning = await RunAsync(Cdb.Inquiry(evpd: true, page: 0xB2));

        var expected = new BlockLimits();
        ReadOnlySpan<byte> b0 = limits.Data.Span;
        Assert.Equal(0x3C, BinaryPrimitives.ReadUInt16BigEndian(b0[2..]));
        Assert.Equal(expected.MaxTransferBlocks, BinaryPrimitives.ReadUInt32BigEndian(b0[8..]));
        Assert.Equal(expected.OptimalTransferBlocks, BinaryPrimitives.ReadUInt32BigEndian(b0[12..]));
        Assert.Equal(expected.MaxUnmapBlocks, BinaryPrimitives.ReadUInt32BigEndian(b0[20..]));
        Assert.Equal(expected.MaxUnmapDescriptors, BinaryPrimitives.ReadUInt32BigEndian(b0[24..]));
        Assert.Equal(expected.MaxWriteSameBlocks, BinaryPrimitives.ReadUInt64BigEndian(b0[36..]));
        byte flags = provisioning.Data.Span[5];
        Assert.True((flags & 0x80) != 0, "LBPU");
        Assert.True((flags & 0x40) != 0, "LBPWS");
    }

    [Fact]
    public async Task ReadCapacityReportsTheLastBlockAndBlockSize()
    {
        using ScsiResult ten = await RunAsync(Cdb.ReadCapacity10());
        using ScsiResult sixteen = await RunAsync(Cdb.ReadCapacity16());

        Assert.Equal((uint)Blocks - 1, BinaryPrimitives.ReadUInt32BigEndian(ten.Data.Span));
        Assert.Equal(512u, BinaryPrimitives.ReadUInt32BigEndian(ten.Data.Span[4..]));
        Assert.Equal(32, sixteen.Data.Length);
        Assert.Equal(Blocks - 1, BinaryPrimitives.ReadUInt64BigEndian(sixteen.Data.Span));
        Assert.Equal(512u, BinaryPrimitives.ReadUInt32BigEndian(sixteen.Data.Span[8..]));
        Assert.True((sixteen.Data.Span[14] & 0x80) != 0, "LBPME");
    }

    [Fact]
    public async Task WritesLandInStorageAndReadsReturnThem()
    {
        byte[] data = new byte[3 * 512];
        new Random(9).NextBytes(data);

        using (ScsiResult write = await RunAsync(Cdb.Write16(10, 3, flags: 0x08 /* FUA */), data)) Assert.Equal(ScsiStatus.Good, write.Status);

        Assert.Equal(data, _storage.Bytes.AsSpan(10 * 512, data.Length).ToArray());
        Assert.Equal(1, _storage.Flushes); // FUA made it durable
        foreach (byte[] cdb in new[] { Cdb.Read6(10, 3), Cdb.Read10(10, 3), Cdb.Read12(10, 3), Cdb.Read16(10, 3) })
        {
            using ScsiResult read = await RunAsync(cdb);
            Assert.Equal(data, read.Data.ToArray());
        }
    }

    [Fact]
    public async Task Write6WithZeroLengthMeans256Blocks()
    {
        byte[] data = Enumerable.Repeat((byte)0x5A, 256 * 512).ToArray();

        using ScsiResult write = await RunAsync(Cdb.Write6(0, 0), data);

        Assert.Equal(ScsiStatus.Good, write.Status);
        Assert.All(_storage.Bytes[..(256 * 512)], b => Assert.Equal(0x5A, b));
    }

    [Theory]
    [InlineData(0x28)]
    [InlineData(0x2A)]
    [InlineData(0x88)]
    [InlineData(0x2F)]
    [InlineData(0x35)]
    [InlineData(0x41)]
    public async Task OutOfRangeLbasAreLbaOutOfRange(byte opcode)
    {
        byte[] cdb = opcode switch
        {
            0x28 => Cdb.Read10((uint)Blocks, 1),
            0x2A => Cdb.Write10((uint)Blocks - 1, 2),
            0x88 => Cdb.Read16(ulong.MaxValue - 1, 4),
            0x2F => Cdb.Verify10((uint)Blocks, 1, 0),
            0x35 => [0x35, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 1, 0],
            _ => Cdb.WriteSame10((uint)Blocks - 1, 2),
        };

        using ScsiResult result = await RunAsync(cdb, new byte[1024]);

        AssertCheckCondition(result, SenseKey.IllegalRequest, AdditionalSense.LbaOutOfRange);
    }

    [Fact]
    public async Task TransfersBeyondTheBlockLimitAreAnInvalidField()
    {
        using ScsiResult result = await RunAsync(Cdb.Read16(0, new BlockLimits().MaxTransferBlocks + 1));

        AssertCheckCondition(result, SenseKey.IllegalRequest, AdditionalSense.InvalidFieldInCdb);
    }

    [Fact]
    public async Task ProtectionInformationIsRefused()
    {
        using ScsiResult result = await RunAsync(Cdb.Read10(0, 1, flags: 0x20));

        AssertCheckCondition(result, SenseKey.IllegalRequest, AdditionalSense.InvalidFieldInCdb);
    }

    [Fact]
    public async Task UnknownOpcodeIsAnInvalidCommandOperationCode()
    {
        using ScsiResult result = await RunAsync([0xC5, 0, 0, 0, 0, 0]);

        AssertCheckCondition(result, SenseKey.IllegalRequest, AdditionalSense.InvalidCommandOperationCode);
    }

    [Fact]
    public async Task OtherLunsAreNotSupportedButInquiryAndReportLunsAnswer()
    {
        using ScsiResult read = await RunAsync(Cdb.Read10(0, 1), lun: 5);
        using ScsiResult inquiry = await RunAsync(Cdb.Inquiry(), lun: 5);
        using ScsiResult luns = await RunAsync(Cdb.ReportLuns(), lun: 5);

        AssertCheckCondition(read, SenseKey.IllegalRequest, AdditionalSense.LogicalUnitNotSupported);
        Assert.Equal(0x7F, inquiry.Data.Span[0]); // qualifier 011b: no unit here
        Assert.Equal(8u, BinaryPrimitives.ReadUInt32BigEndian(luns.Data.Span));
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64BigEndian(luns.Data.Span[8..]));
    }

    [Fact]
    public async Task UnmapWritesZeroes()
    {
        Array.Fill(_storage.Bytes, (byte)0xEE, 0, 64 * 512);

        using ScsiResult result = await RunAsync(Cdb.Unmap(40), Cdb.UnmapList((2, 3), (20, 10)));

        Assert.Equal(ScsiStatus.Good, result.Status);
        Assert.All(_storage.Bytes[(2 * 512)..(5 * 512)], b => Assert.Equal(0, b));
        Assert.All(_storage.Bytes[(20 * 512)..(30 * 512)], b => Assert.Equal(0, b));
        Assert.All(_storage.Bytes[(5 * 512)..(20 * 512)], b => Assert.Equal(0xEE, b));
        Assert.Equal(0xEE, _storage.Bytes[30 * 512]);
    }

    [Fact]
    public async Task UnmapOutOfRangeChangesNothing()
    {
        Array.Fill(_storage.Bytes, (byte)0xEE, 0, 4 * 512);

        using ScsiResult result = await RunAsync(Cdb.Unmap(40), Cdb.UnmapList((0, 4), (Blocks - 1, 2)));

        AssertCheckCondition(result, SenseKey.IllegalRequest, AdditionalSense.LbaOutOfRange);
        Assert.All(_storage.Bytes[..(4 * 512)], b => Assert.Equal(0xEE, b));
    }

    [Fact]
    public async Task ShortUnmapParameterListIsAParameterListLengthError()
    {
        using ScsiResult result = await RunAsync(Cdb.Unmap(6), new byte[6]);

        AssertCheckCondition(result, SenseKey.IllegalRequest, AdditionalSense.ParameterListLengthError);
    }

    [Fact]
    public async Task WriteSameRepeatsTheBlock()
    {
        byte[] block = Enumerable.Range(0, 512).Select(i => (byte)i).ToArray();

        using ScsiResult result = await RunAsync(Cdb.WriteSame16(100, 3000), block);

        Assert.Equal(ScsiStatus.Good, result.Status);
        for (int i = 0; i < 3000; i++) Assert.Equal(block, _storage.Bytes.AsSpan((100 + i) * 512, 512).ToArray());
        Assert.Equal(0, _storage.Bytes[99 * 512 + 511]);
        Assert.Equal(0, _storage.Bytes[3100 * 512]);
    }

    [Fact]
    public async Task WriteSameWithUnmapOrNdobZeroes()
    {
        Array.Fill(_storage.Bytes, (byte)0xEE, 0, 64 * 512);

        using (ScsiResult unmap = await RunAsync(Cdb.WriteSame10(0, 8, unmap: true), new byte[512])) Assert.Equal(ScsiStatus.Good, unmap.Status);
        using (ScsiResult ndob = await RunAsync(Cdb.WriteSame16(16, 8, unmap: true, ndob: true))) Assert.Equal(ScsiStatus.Good, ndob.Status);

        Assert.All(_storage.Bytes[..(8 * 512)], b => Assert.Equal(0, b));
        Assert.All(_storage.Bytes[(16 * 512)..(24 * 512)], b => Assert.Equal(0, b));
        Assert.All(_storage.Bytes[(8 * 512)..(16 * 512)], b => Assert.Equal(0xEE, b));
    }

    [Fact]
    public async Task WriteSameOfZeroBlocksIsRefused()
    {
        using ScsiResult result = await RunAsync(Cdb.WriteSame10(0, 0), new byte[512]);

        AssertCheckCondition(result, SenseKey.IllegalRequest, AdditionalSense.InvalidFieldInCdb);
    }

    [Fact]
    public async Task VerifyWithByteCheckReportsTheFirstDifference()
    {
        byte[] data = new byte[2 * 512];
        new Random(3).NextBytes(data);
        data.CopyTo(_storage.Bytes, 0);

        using (ScsiResult same = await RunAsync(Cdb.Verify10(0, 2, byteCheck: 1), data)) Assert.Equal(ScsiStatus.Good, same.Status);
        data[700] ^= 0xFF;
        using ScsiResult different = await RunAsync(Cdb.Verify10(0, 2, byteCheck: 1), data);

        AssertCheckCondition(different, SenseKey.Miscompare, AdditionalSense.MiscompareDuringVerify);
        Assert.True((different.Sense.Span[0] & 0x80) != 0, "VALID: the INFORMATION field holds the offset");
        Assert.Equal(700u, BinaryPrimitives.ReadUInt32BigEndian(different.Sense.Span[3..]));
    }

    [Fact]
    public async Task SynchronizeCacheFlushes()
    {
        using ScsiResult result = await RunAsync(Cdb.SynchronizeCache10());

        Assert.Equal(ScsiStatus.Good, result.Status);
        Assert.Equal(1, _storage.Flushes);
    }

    [Fact]
    public async Task ModeSenseReportsCachingAndControlPages()
    {
        using ScsiResult caching = await RunAsync(Cdb.ModeSense6(0x08));
        using ScsiResult all = await RunAsync(Cdb.ModeSense6(0x3F, disableBlockDescriptors: true));
        using ScsiResult ten = await RunAsync(Cdb.ModeSense10(0x0A, longLba: true));

        ReadOnlySpan<byte> c = caching.Data.Span;
        Assert.Equal(c.Length - 1, c[0]);
        Assert.Equal(8, c[3]); // short block descriptor
        Assert.Equal(512u, BinaryPrimitives.ReadUInt32BigEndian(c[8..]) & 0xFFFFFF);
        Assert.Equal(0x08, c[12]);
        Assert.True((c[14] & 0x04) != 0, "WCE");

        var pages = new List<byte>();
        ReadOnlySpan<byte> body = all.Data.Span[4..];
        Assert.Equal(0, all.Data.Span[3]);
        while (!body.IsEmpty)
        {
            pages.Add((byte)(body[0] & 0x3F));
            body = body[(2 + body[1])..];
        }
        Assert.Equal(new byte[] { 0x01, 0x08, 0x0A }, pages);

        ReadOnlySpan<byte> t = ten.Data.Span;
        Assert.Equal(t.Length - 2, BinaryPrimitives.ReadUInt16BigEndian(t));
        Assert.Equal(16, BinaryPrimitives.ReadUInt16BigEndian(t[6..])); // long LBA descriptor
        Assert.Equal(Blocks, BinaryPrimitives.ReadUInt64BigEndian(t[8..]));
        Assert.Equal(0x0A, t[24]);
    }

    [Fact]
    public async Task ModeSenseOfUnknownPageOrSavedValuesFails()
    {
        using ScsiResult unknown = await RunAsync(Cdb.ModeSense6(0x1C));
        using ScsiResult saved = await RunAsync(Cdb.ModeSense6(0x08, pageControl: 3));

        AssertCheckCondition(unknown, SenseKey.IllegalRequest, AdditionalSense.InvalidFieldInCdb);
        AssertCheckCondition(saved, SenseKey.IllegalRequest, AdditionalSense.SavingParametersNotSupported);
    }

    [Fact]
    public async Task UnitAttentionIsReportedOnceAndInquiryPassesIt()
    {
        var attention = new UnitAttentionState();
        attention.Raise(0, AdditionalSense.PowerOnOrReset);

        using ScsiResult inquiry = await RunAsync(Cdb.Inquiry(), attention: attention);
        using ScsiResult first = await RunAsync(Cdb.TestUnitReady(), attention: attention);
        using ScsiResult second = await RunAsync(Cdb.TestUnitReady(), attention: attention);

        Assert.Equal(ScsiStatus.Good, inquiry.Status);
        AssertCheckCondition(first, SenseKey.UnitAttention, AdditionalSense.PowerOnOrReset);
        Assert.Equal(ScsiStatus.Good, second.Status);
    }

    [Fact]
    public async Task RequestSenseReturnsAPendingUnitAttentionAsData()
    {
        var attention = new UnitAttentionState();
        attention.Raise(0, AdditionalSense.PowerOnOrReset);

        using ScsiResult sense = await RunAsync(Cdb.RequestSense(), attention: attention);
        using ScsiResult after = await RunAsync(Cdb.RequestSense(), attention: attention);

        Assert.Equal(ScsiStatus.Good, sense.Status);
        Assert.Equal(SenseKey.UnitAttention, SenseBuilder.KeyOf(sense.Data.Span));
        Assert.Equal(SenseKey.NoSense, SenseBuilder.KeyOf(after.Data.Span));
    }

    [Fact]
    public async Task ReportLunsNeedsRoomForTheHeader()
    {
        using ScsiResult tooSmall = await RunAsync(Cdb.ReportLuns(allocation: 8));

        AssertCheckCondition(tooSmall, SenseKey.IllegalRequest, AdditionalSense.InvalidFieldInCdb);
    }

    [Fact]
    public async Task StorageFailureIsAMediumError()
    {
        _storage.Broken = true;

        using ScsiResult read = await RunAsync(Cdb.Read10(4, 1));
        using ScsiResult write = await RunAsync(Cdb.Write10(4, 1), new byte[512]);

        AssertCheckCondition(read, SenseKey.MediumError, AdditionalSense.UnrecoveredReadError);
        AssertCheckCondition(write, SenseKey.MediumError, AdditionalSense.WriteError);
    }

    [Fact]
    public void DataOutLengthFollowsTheCdb()
    {
        var device = new DirectAccessDevice(_storage, DeviceIdentity.For(Target, 0));

        Assert.Equal(8 * 512, device.DataOutLength(Cdb.Write10(0, 8)));
        Assert.Equal(256 * 512, device.DataOutLength(Cdb.Write6(0, 0)));
        Assert.Equal(512, device.DataOutLength(Cdb.WriteSame10(0, 100)));
        Assert.Equal(0, device.DataOutLength(Cdb.WriteSame16(0, 100, ndob: true)));
        Assert.Equal(24, device.DataOutLength(Cdb.Unmap(24)));
        Assert.Equal(0, device.DataOutLength(Cdb.Read10(0, 8)));
    }
}
