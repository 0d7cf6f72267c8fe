namespace IscsiUp.Iscsi.Pdus;

/// <summary>The fields of Asynchronous Messages (RFC 7143 section 11.9).</summary>
public sealed partial class Pdu
{
    /// <summary>AsyncEvent (byte 36): 1 asks for a logout within <see cref="AsyncParameter3"/> seconds.</summary>
    public byte AsyncEvent { get => Bhs[36]; set => Bhs[36] = value; }

    public ushort AsyncParameter1 { get => U16(38); set => SetU16(38, value); }
    public ushort AsyncParameter2 { get => U16(40); set => SetU16(40, value); }
    public ushort AsyncParameter3 { get => U16(42); set => SetU16(42, value); }
}
