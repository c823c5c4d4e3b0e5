using System.IO.Pipes;

namespace LZN.Tests.IO;

/// <summary>Feeds bytes to a reader through a real anonymous pipe: a stream with no length that cannot seek.</summary>
internal static class PipeReads
{
    public static T Read<T>(byte[] bytes, Func<Stream, T> reader)
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        var writer = Task.Run(() =>
        {
            server.Write(bytes);
            server.Dispose();
        });
        var result = reader(client);
        writer.Wait();
        return result;
    }
}
