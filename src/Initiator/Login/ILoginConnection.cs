using IscsiUp.Iscsi.Pdus;
using IscsiUp.Iscsi.Login;

namespace IscsiUp.Initiator.Login;

/// <summary>
/// The connection a login runs on, as the login needs it: PDUs out and in, and the portal to name in messages.
/// The session layer's connection implements it, so the login does not depend on the session layer.
/// </summary>
public interface ILoginConnection
{
    /// <summary>The portal the connection goes to, as messages write it (HOST:PORT or [IPv6]:PORT).</summary>
    string Portal { get; }

    /// <summary>Sends one PDU and flushes it to the socket.</summary>
    ValueTask SendAsync(Pdu pdu, CancellationToken ct);

    /// <summary>Reads one whole PDU with its data; false on a clean end of stream.</summary>
    ValueTask<bool> ReceiveAsync(Pdu pdu, CancellationToken ct);
}
