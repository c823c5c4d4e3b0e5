using LZN.Native.Backends;
using LZN.Native.IO;
using LZN.Native.Zones;

// The README's library example as a program: separated anchors are encoded into latents, flowed back, and each row
// must land in its own anchor's zone. Exit code 1 if one does not.
const int n = 16, d = 8;
var anchorValues = new float[n * d];
for (int i = 0; i < n; i++)
    anchorValues[i * d + i % d] = i < d ? 6f : -6f;

using IBackend backend = DeviceSelection.Create(DeviceRequest.Resolve("cpu"), Console.Error);
using FloatBuffer anchors = backend.FromHost(anchorValues);   // [N, d]
using FloatBuffer noise = backend.AllocateFloat(n * d);        // [N, d]
backend.FillNormal(noise, seed: 7, offset: 0, mean: 0f, std: 1f);
var zoneAnchors = new ZoneAnchors(anchors, n, d);
using EncodeResult encoded = LatentEncoder.Encode(zoneAnchors, noise, new EncodeOptions { Steps = 20, NoiseScale = 0.45f });
using AssignResult assigned = ZoneAssigner.Assign(zoneAnchors, encoded.Latents, n);
int[] zones = ZoneAssigner.NearestAnchors(zoneAnchors, assigned.FinalPoints, n);

string latents = Path.Combine(Path.GetTempPath(), $"lzn-sample-{Environment.ProcessId}.npy");
Npy.Write(latents, encoded.Latents.ToArray(), n, d);
var read = Npy.Read(latents);
File.Delete(latents);

int home = zones.Where((zone, row) => zone == row).Count();
Console.WriteLine($"LZN.Native sample: {home} of {n} anchors returned to their own zone; latents [{string.Join(", ", read.Shape)}] round-tripped through .npy");
return home == n ? 0 : 1;
