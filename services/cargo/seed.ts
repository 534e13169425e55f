/** Demo data: carriers for the shipments of demo orders to go with. */
import { type CarrierFields, carrierFields, type CarrierInput } from "./domain.ts";
import { type CargoStore, DuplicateCarrierError } from "./store/postgres.ts";

const demoCarriers: CarrierFields[] = ([
  { name: "Swift Parcel", phone: "+1 206 555 0142", website: "https://swiftparcel.example", active: true },
  { name: "Northwind Freight", phone: "+1 425 555 0178", website: "https://northwind.example", active: true },
  { name: "Harbor Express", phone: "+1 253 555 0113", active: true },
] satisfies CarrierInput[]).map((input) => carrierFields(input));

/** Creates the demo carriers whose names are free and returns their names; carriers already there stay as they are. */
export async function seedCarriers(store: CargoStore): Promise<string[]> {
  const created: string[] = [];
  for (const carrier of demoCarriers) {
    try {
      await store.insertCarrier(crypto.randomUUID(), carrier);
      created.push(carrier.name);
    } catch (error) {
      if (!(error instanceof DuplicateCarrierError)) throw error;
    }
  }
  return created;
}
