using System.Buffers.Binary;

namespace IscsiUp.TestTarget.Scsi;

/// <summary>
/// Builds fixed-format sense data (SPC-4 section 4.5.3, response code 0x70). Fixed format is what every
/// initiator understands; descriptor format is not offered (D_SENSE is 0 in the control mode page).
/// </summary>
public static class SenseBuilder
{
    public const int FixedLength = 18;

    /// <param name="information">Goes in the INFORMATION field (VALID bit set) when given, e.g. the miscompare offset.</param>
    /// <param name="cdbFieldPointer">For INVALID FIELD IN CDB: the byte of the CDB at fault (sense-key specific field).</param>
    public static byte[] Fixed(SenseKey key, AdditionalSense sense, uint? information = null, ushort? cdbFieldPointer = null)
    {
        var data = new byte[FixedLength];
        data[0] = (byte)(0x70 | (information.HasValue ? 0x80 : 0));
        data[2] = (byte)key;
        if (information is { } info) BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(3), info);
        data[7] = FixedLength - 8; // additional sense length
        data[12] = sense.Code;
        data[13] = sense.Qualifier;
        if (cdbFieldPointer is { } field)
        {
            data[15] = 0x80 | 0x40; // SKSV, C/D = the error is in the CDB
            BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(16), field);
        }
        return data;
    }

    /// <summary>The sense key of fixed or descriptor sense data.</summary>
    public static SenseKey KeyOf(ReadOnlySpan<byte> sense) =>
        (SenseKey)((sense[0] & 0x7F) >= 0x72 ? sense[1] & 0x0F : sense[2] & 0x0F);

    /// <summary>The ASC/ASCQ of fixed or descriptor sense data.</summary>
    public static AdditionalSense AdditionalOf(ReadOnlySpan<byte> sense) =>
        (sense[0] & 0x7F) >= 0x72 ? new(sense[2], sense[3]) : new(sense[12], sense[13]);
}
