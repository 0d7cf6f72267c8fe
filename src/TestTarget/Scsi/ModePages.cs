using System.Buffers.Binary;

namespace IscsiUp.TestTarget.Scsi;

/// <summary>
/// MODE SENSE(6)/(10) parameter data (SPC-4 section 7.5, SBC-3 section 6.4): header, optional block descriptor,
/// and the read-write error recovery (0x01), caching (0x08) and control (0x0A) pages. Nothing is changeable
/// (no MODE SELECT), so the changeable-values mask is all zeroes.
/// </summary>
public static class ModePages
{
    public const byte ReadWriteErrorRecovery = 0x01;
    public const byte Caching = 0x08;
    public const byte Control = 0x0A;
    public const byte AllPages = 0x3F;

    /// <summary>Page control: current, changeable, default, saved.</summary>
    public enum PageControl { Current = 0, Changeable = 1, Default = 2, Saved = 3 }

    /// <summary>The pages for <paramref name="pageCode"/>, or null for an unsupported page.</summary>
    public static byte[]? Pages(byte pageCode, byte subpage, PageControl control)
    {
        if (subpage != 0 && !(pageCode == AllPages && subpage == 0xFF)) return null;
        byte[][] pages = pageCode switch
        {
            ReadWriteErrorRecovery => [ErrorRecoveryPage()],
            Caching => [CachingPage()],
            Control => [ControlPage()],
            AllPages => [ErrorRecoveryPage(), CachingPage(), ControlPage()],
            _ => [],
        };
        if (pages.Length == 0) return null;
        if (control == PageControl.Changeable)
            foreach (var page in pages) page.AsSpan(2).Clear();
        return pages.SelectMany(p => p).ToArray();
    }

    private static byte[] ErrorRecoveryPage() => [ReadWriteErrorRecovery, 0x0A, 0x80 /* AWRE */, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    /// <summary>WCE=1: writes may sit in a volatile cache until SYNCHRONIZE CACHE, which makes initiators send flushes.</summary>
    private static byte[] CachingPage()
    {
        var page = new byte[20];
        page[0] = Caching;
        page[1] = 0x12;
        page[2] = 0x04; // WCE
        return page;
    }

    private static byte[] ControlPage()
    {
        var page = new byte[12];
        page[0] = Control;
        page[1] = 0x0A;
        page[3] = 0x10; // QUEUE ALGORITHM MODIFIER 1: unrestricted reordering of simple tasks
        BinaryPrimitives.WriteUInt16BigEndian(page.AsSpan(8), 0xFFFF); // BUSY TIMEOUT PERIOD: unlimited
        return page;
    }

    /// <summary>MODE SENSE(6) data: 4-byte header, optional 8-byte block descriptor, pages.</summary>
    public static byte[] Sense6(ReadOnlySpan<byte> pages, bool blockDescriptor, ulong blockCount, uint blockSize)
    {
        int descriptorLength = blockDescriptor ? 8 : 0;
        var data = new byte[4 + descriptorLength + pages.Length];
        data[0] = (byte)Math.Min(255, data.Length - 1);
        data[2] = 0x10; // DPOFUA
        data[3] = (byte)descriptorLength;
        if (blockDescriptor) ShortDescriptor(data.AsSpan(4), blockCount, blockSize);
        pages.CopyTo(data.AsSpan(4 + descriptorLength));
        return data;
    }

    /// <summary>MODE SENSE(10) data: 8-byte header, optional short (8) or long (16, LLBAA) block descriptor, pages.</summary>
    public static byte[] Sense10(ReadOnlySpan<byte> pages, bool blockDescriptor, bool longLba, ulong blockCount, uint blockSize)
    {
        int descriptorLength = blockDescriptor ? (longLba ? 16 : 8) : 0;
        var data = new byte[8 + descriptorLength + pages.Length];
        BinaryPrimitives.WriteUInt16BigEndian(data, (ushort)(data.Length - 2));
        data[3] = 0x10; // DPOFUA
        if (blockDescriptor && longLba) data[4] = 0x01; // LONGLBA
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(6), (ushort)descriptorLength);
        if (blockDescriptor)
        {
            if (longLba)
            {
                BinaryPrimitives.WriteUInt64BigEndian(data.AsSpan(8), blockCount);
                BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(20), blockSize);
            }
            else ShortDescriptor(data.AsSpan(8), blockCount, blockSize);
        }
        pages.CopyTo(data.AsSpan(8 + descriptorLength));
        return data;
    }

    private static void ShortDescriptor(Span<byte> descriptor, ulong blockCount, uint blockSize)
    {
        BinaryPrimitives.WriteUInt32BigEndian(descriptor, (uint)Math.Min(blockCount, 0xFFFF_FFFF));
        BinaryPrimitives.WriteUInt32BigEndian(descriptor[4..], blockSize & 0x00FF_FFFF); // byte 4 density code 0
    }
}
