using IscsiUp.Initiator.Login;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Iscsi.Login;

namespace IscsiUp.Initiator.Tests.Login;

/// <summary>
/// A login connection without a socket: each request the login sends is answered by a script, and the answer
/// is what it receives next. An answer of null is a target that closed the connection.
/// </summary>
internal sealed class ScriptedLoginConnection(Func<Pdu, byte[]?> answer) : ILoginConnection
{
    private readonly Queue<byte[]> _answers = new();

    public string Portal => "192.0.2.1:3260";

    /// <summary>The text of every request, in order.</summary>
    public List<TextKeys> Sent { get; } = [];

    public ValueTask SendAsync(Pdu pdu, CancellationToken ct)
    {
        Sent.Add(TextKeys.Parse(pdu.Data.Span));
        if (answer(pdu) is { } response) _answers.Enqueue(response);
        return ValueTask.CompletedTask;
    }

    public ValueTask<bool> ReceiveAsync(Pdu pdu, CancellationToken ct) => _answers.TryDequeue(out var response)
        ? new PduReader(new MemoryStream(response)).ReadPduAsync(pdu, ct)
        : ValueTask.FromResult(false);
}
