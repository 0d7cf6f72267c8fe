using IscsiUp.Iscsi.Login;

namespace IscsiUp.Iscsi.Pdus;

/// <summary>The fields of Login requests and responses (RFC 7143 sections 11.12 and 11.13).</summary>
public sealed partial class Pdu
{
    /// <summary>T: the sender wants to move to <see cref="NextStage"/>.</summary>
    public bool Transit { get => HasFlag(PduFlags.Transit); set => SetFlag(PduFlags.Transit, value); }

    /// <summary>C (Login and Text): the text goes on in the next PDU.</summary>
    public bool Continue { get => HasFlag(PduFlags.Continue); set => SetFlag(PduFlags.Continue, value); }

    /// <summary>CSG: the stage this PDU belongs to.</summary>
    public LoginStage CurrentStage
    {
        get => (LoginStage)((Bhs[1] & PduFlags.CurrentStageMask) >> 2);
        set => Bhs[1] = (byte)((Bhs[1] & ~PduFlags.CurrentStageMask) | (((byte)value << 2) & PduFlags.CurrentStageMask));
    }

    /// <summary>NSG: the stage to move to; meaningful only with <see cref="Transit"/>.</summary>
    public LoginStage NextStage
    {
        get => (LoginStage)(Bhs[1] & PduFlags.NextStageMask);
        set => Bhs[1] = (byte)((Bhs[1] & ~PduFlags.NextStageMask) | ((byte)value & PduFlags.NextStageMask));
    }

    /// <summary>T, CSG and NSG together; setting them leaves NSG 0 unless T is set, as the RFC reserves it then.</summary>
    public LoginStages Stages
    {
        get => new(CurrentStage, NextStage, Transit);
        set
        {
            Transit = value.Transit;
            CurrentStage = value.Current;
            NextStage = value.Transit ? value.Next : 0;
        }
    }

    /// <summary>Version-max (byte 2).</summary>
    public byte VersionMax { get => Bhs[2]; set => Bhs[2] = value; }

    /// <summary>Byte 3: Version-min in a request, Version-active in a response.</summary>
    public byte VersionMin { get => Bhs[3]; set => Bhs[3] = value; }

    /// <inheritdoc cref="VersionMin"/>
    public byte VersionActive { get => Bhs[3]; set => Bhs[3] = value; }

    /// <summary>ISID (bytes 8-13): the initiator's part of the session identifier.</summary>
    public Span<byte> Isid => Bhs.AsSpan(8, 6);

    /// <summary>TSIH (bytes 14-15): the target's part of the session identifier, 0 for a new session.</summary>
    public ushort Tsih { get => U16(14); set => SetU16(14, value); }

    /// <summary>CID (bytes 20-21) of Login and Logout requests.</summary>
    public ushort ConnectionId { get => U16(20); set => SetU16(20, value); }

    /// <summary>Status-Class and Status-Detail (bytes 36-37) of a Login response, as <see cref="LoginStatus"/> codes them.</summary>
    public ushort LoginStatusCode { get => U16(36); set => SetU16(36, value); }
}
